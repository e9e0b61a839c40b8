// CompletionRequest: the body of POST /v1/chat/completions or /v1/completions, parsed and checked
// into types. OpenAI's fields that chunkllm uses (messages or prompt, max_tokens, temperature,
// top_p, top_k, seed, stop, stream, stream_options.include_usage, n), llama-server's
// return_progress, and our extension object "chunkllm": {"attn": METHOD}. Fields it does not
// know are ignored, as OpenAI clients send many; a known field of the wrong type or out of range
// is refused with an ApiError (400) whose param names it ("messages[2].content", "chunkllm.attn").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "chunk/attention_options.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

namespace chunkllm::serve {

enum class Endpoint { kChat, kCompletion };

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kCompletion;
  std::string model;                  // "model", echoed back; any value is taken
  std::vector<ChatMessage> messages;  // chat: the conversation
  std::string prompt;                 // completions: the text to continue
  // max_tokens (chat also max_completion_tokens); absent: until an end-of-generation token or a
  // full context.
  std::optional<int> max_tokens;
  std::string max_tokens_param = "max_tokens";  // the field it came from, for errors
  // temperature, top_k, top_p and seed; the defaults are `run`'s (0.8, 40, 0.95, random).
  SamplerParams sampler;
  std::vector<std::string> stop;  // up to kMaxStops strings that end the text (not included)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with the usage
  bool return_progress = false;  // streaming: prefill progress events
  bool ignore_eos = false;  // llama-server's: generate max_tokens tokens whatever the model says
  std::optional<AttentionMethod> method;  // chunkllm.attn; absent: the server's default

  // The parameter that names the prompt in errors: "messages" or "prompt".
  const char* prompt_param() const { return endpoint == Endpoint::kChat ? "messages" : "prompt"; }
};

inline constexpr size_t kMaxStops = 4;

// Parses the body. max_text_bytes bounds the text of the prompt (or of all messages): a longer
// one cannot fit in the slot's context and is refused before it is tokenized. Throws ApiError.
CompletionRequest ParseCompletionRequest(const std::string& body, Endpoint endpoint, size_t max_text_bytes);

}  // namespace chunkllm::serve
