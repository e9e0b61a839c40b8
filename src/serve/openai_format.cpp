#include "serve/openai_format.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>

namespace chunkllm::serve {

using nlohmann::json;

ResponseHeader NewResponseHeader(Endpoint endpoint, const std::string& model) {
  // Unique per process and start-up: a random prefix and a counter.
  static const uint64_t prefix = std::random_device{}();
  static std::atomic<uint64_t> counter{0};
  ResponseHeader h;
  h.endpoint = endpoint;
  char id[48];
  std::snprintf(id, sizeof id, "%s-%08llx%08llx", endpoint == Endpoint::kChat ? "chatcmpl" : "cmpl",
                (unsigned long long)(prefix & 0xFFFFFFFFu), (unsigned long long)++counter);
  h.id = id;
  h.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  h.model = model;
  return h;
}

const char* FinishReasonName(FinishReason f) {
  switch (f) {
    case FinishReason::kMaxTokens:
    case FinishReason::kContextFull:
      return "length";
    default:
      return "stop";
  }
}

json Usage(const GenerationResult& r) {
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"total_tokens", r.prompt_tokens + r.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", r.cached_tokens}}}};
}

json ChunkllmFigures(const GenerationResult& r) {
  const int prefilled = r.prompt_tokens - r.cached_tokens;
  return {{"attn", r.method},
          {"attended_fraction", r.stats.attended_fraction()},
          {"prefill_attended_fraction", r.stats.prefill_attended_fraction()},
          {"resident_fraction", r.stats.resident_fraction()},
          {"selections", r.stats.selections},
          {"decode_steps", r.stats.decode_steps},
          {"prefill_tokens", prefilled},
          {"prefill_tokens_per_s", r.prefill_s > 0 ? prefilled / r.prefill_s : 0.0},
          {"decode_tokens_per_s", r.decode_s > 0 ? r.completion_tokens / r.decode_s : 0.0},
          {"slot", r.slot}};
}

namespace {

json Envelope(const ResponseHeader& h, bool chunk) {
  const bool chat = h.endpoint == Endpoint::kChat;
  return {{"id", h.id},
          {"object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion"},
          {"created", h.created},
          {"model", h.model}};
}

json Choice(const ResponseHeader& h, const std::string& text, bool chunk, bool first, const char* finish) {
  json c = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish ? json(finish) : json(nullptr)}};
  if (h.endpoint == Endpoint::kCompletion) {
    c["text"] = text;
  } else if (chunk) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || first) delta["content"] = text;
    c["delta"] = delta;
  } else {
    c["message"] = {{"role", "assistant"}, {"content", text}};
  }
  return c;
}

}  // namespace

json CompletionBody(const ResponseHeader& h, const std::string& text, const GenerationResult& r) {
  json j = Envelope(h, false);
  j["choices"] = json::array({Choice(h, text, false, false, FinishReasonName(r.finish))});
  j["usage"] = Usage(r);
  j["chunkllm"] = ChunkllmFigures(r);
  return j;
}

json TextChunk(const ResponseHeader& h, const std::string& text, bool first) {
  json j = Envelope(h, true);
  j["choices"] = json::array({Choice(h, text, true, first, nullptr)});
  return j;
}

json FinalChunk(const ResponseHeader& h, const GenerationResult& r) {
  json j = Envelope(h, true);
  j["choices"] = json::array({Choice(h, "", true, false, FinishReasonName(r.finish))});
  j["chunkllm"] = ChunkllmFigures(r);
  return j;
}

json UsageChunk(const ResponseHeader& h, const GenerationResult& r) {
  json j = Envelope(h, true);
  j["choices"] = json::array();
  j["usage"] = Usage(r);
  return j;
}

json ProgressChunk(const ResponseHeader& h, int processed, int total, int cached) {
  json j = Envelope(h, true);
  j["choices"] = json::array();
  j["prompt_progress"] = {{"total", total}, {"cache", cached}, {"processed", processed}};
  return j;
}

std::string DumpJson(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string SseEvent(const json& j) { return "data: " + DumpJson(j) + "\n\n"; }

}  // namespace chunkllm::serve
