// The response bodies of the completion endpoints in OpenAI's schemas (chat.completion,
// text_completion and their streamed chunks), with `usage` (prompt_tokens_details.cached_tokens
// included) and our extension object "chunkllm": the request's attention method, attended and
// resident fractions of the KV cache over its decode steps, selections, and prefill and decode
// tokens/s.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "serve/completion_request.h"
#include "serve/generation_task.h"

namespace chunkllm::serve {

// What every body of one response repeats.
struct ResponseHeader {
  Endpoint endpoint = Endpoint::kCompletion;
  std::string id;     // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;  // Unix seconds
  std::string model;
};

ResponseHeader NewResponseHeader(Endpoint endpoint, const std::string& model);

// "stop" (end of generation, a stop string) or "length" (max_tokens, a full context).
const char* FinishReasonName(FinishReason f);
nlohmann::json Usage(const GenerationResult& r);
nlohmann::json ChunkllmFigures(const GenerationResult& r);

// The whole answer (non-streaming).
nlohmann::json CompletionBody(const ResponseHeader& h, const std::string& text, const GenerationResult& r);
// A streamed chunk carrying text (chat: the first one also carries the role).
nlohmann::json TextChunk(const ResponseHeader& h, const std::string& text, bool first);
// The streamed chunk that ends the choice: finish_reason, and the chunkllm figures.
nlohmann::json FinalChunk(const ResponseHeader& h, const GenerationResult& r);
// stream_options.include_usage: the last chunk, no choices, the usage.
nlohmann::json UsageChunk(const ResponseHeader& h, const GenerationResult& r);
// return_progress: llama-server's prompt_progress event (tokens processed of total, cached).
nlohmann::json ProgressChunk(const ResponseHeader& h, int processed, int total, int cached);

// JSON text; strings that are not valid UTF-8 get U+FFFD instead of an exception.
std::string DumpJson(const nlohmann::json& j);
// One server-sent event: "data: JSON\n\n".
std::string SseEvent(const nlohmann::json& j);

}  // namespace chunkllm::serve
