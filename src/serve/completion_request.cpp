#include "serve/completion_request.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "serve/api_error.h"

namespace chunkllm::serve {

namespace {

using nlohmann::json;

// JSON's name for a value's type, for messages.
std::string TypeName(const json& v) { return v.type_name(); }

int64_t Integer(const json& v, const std::string& param, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) BadRequest(param, "'" + param + "' must be an integer, got " + TypeName(v));
  if (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(hi) : v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    BadRequest(param, "'" + param + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                          v.dump());
  }
  return v.get<int64_t>();
}

double Number(const json& v, const std::string& param) {
  if (!v.is_number()) BadRequest(param, "'" + param + "' must be a number, got " + TypeName(v));
  const double x = v.get<double>();
  if (!std::isfinite(x)) BadRequest(param, "'" + param + "' must be finite");
  return x;
}

bool Boolean(const json& v, const std::string& param) {
  if (!v.is_boolean()) BadRequest(param, "'" + param + "' must be true or false, got " + TypeName(v));
  return v.get<bool>();
}

const std::string& String(const json& v, const std::string& param) {
  if (!v.is_string()) BadRequest(param, "'" + param + "' must be a string, got " + TypeName(v));
  return v.get_ref<const std::string&>();
}

// A message's content: a string, or OpenAI's array of parts of which chunkllm reads the text ones.
std::string MessageContent(const json& v, const std::string& param) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) BadRequest(param, "'" + param + "' must be a string or an array of text parts, got " + TypeName(v));
  std::string text;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = param + "[" + std::to_string(i) + "]";
    const json& part = v[i];
    if (!part.is_object()) BadRequest(p, "'" + p + "' must be an object, got " + TypeName(part));
    const auto type = part.find("type");
    if (type == part.end()) BadRequest(p + ".type", "'" + p + ".type' is required");
    if (String(*type, p + ".type") != "text") {
      BadRequest(p + ".type", "'" + p + ".type' must be \"text\": this server reads text only");
    }
    const auto t = part.find("text");
    if (t == part.end()) BadRequest(p + ".text", "'" + p + ".text' is required");
    text += String(*t, p + ".text");
  }
  return text;
}

void ParseMessages(const json& v, CompletionRequest& r) {
  if (!v.is_array()) BadRequest("messages", "'messages' must be an array, got " + TypeName(v));
  if (v.empty()) BadRequest("messages", "'messages' must hold at least one message");
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = "messages[" + std::to_string(i) + "]";
    const json& m = v[i];
    if (!m.is_object()) BadRequest(p, "'" + p + "' must be an object, got " + TypeName(m));
    const auto role = m.find("role");
    if (role == m.end()) BadRequest(p + ".role", "'" + p + ".role' is required");
    const std::string& name = String(*role, p + ".role");
    if (name != "system" && name != "user" && name != "assistant" && name != "developer") {
      BadRequest(p + ".role", "'" + p + ".role' must be system, developer, user or assistant");
    }
    const auto content = m.find("content");
    if (content == m.end() || content->is_null()) BadRequest(p + ".content", "'" + p + ".content' is required");
    // libllama's templates know "system", not OpenAI's newer name for it.
    r.messages.push_back({name == "developer" ? "system" : name, MessageContent(*content, p + ".content")});
  }
}

std::vector<std::string> Stops(const json& v) {
  std::vector<std::string> stops;
  if (v.is_string()) {
    stops.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    if (v.size() > kMaxStops) {
      BadRequest("stop", "'stop' holds at most " + std::to_string(kMaxStops) + " strings, got " + std::to_string(v.size()));
    }
    for (size_t i = 0; i < v.size(); ++i) stops.push_back(String(v[i], "stop[" + std::to_string(i) + "]"));
  } else {
    BadRequest("stop", "'stop' must be a string or an array of strings, got " + TypeName(v));
  }
  for (const std::string& s : stops) {
    if (s.empty()) BadRequest("stop", "'stop' strings must not be empty");
  }
  return stops;
}

}  // namespace

CompletionRequest ParseCompletionRequest(const std::string& body, Endpoint endpoint, size_t max_text_bytes) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ApiError(400, "the request body is not valid JSON");
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object, got " + TypeName(j));
  CompletionRequest r;
  r.endpoint = endpoint;
  // null is "not given" for every optional field, as OpenAI's clients send it.
  const auto field = [&](const char* name) -> const json* {
    const auto it = j.find(name);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };
  if (const json* v = field("model")) r.model = String(*v, "model");
  size_t text_bytes = 0;
  if (endpoint == Endpoint::kChat) {
    const json* v = field("messages");
    if (!v) BadRequest("messages", "'messages' is required");
    ParseMessages(*v, r);
    for (const ChatMessage& m : r.messages) text_bytes += m.content.size();
  } else {
    const json* v = field("prompt");
    if (!v) BadRequest("prompt", "'prompt' is required");
    if (v->is_array()) {  // OpenAI takes a batch of prompts; one choice per request here
      if (v->size() != 1) BadRequest("prompt", "'prompt' must be a string or an array of one string");
      r.prompt = String((*v)[0], "prompt[0]");
    } else {
      r.prompt = String(*v, "prompt");
    }
    text_bytes = r.prompt.size();
  }
  if (text_bytes > max_text_bytes) {
    BadRequest(r.prompt_param(),
               "the prompt's " + std::to_string(text_bytes) + " bytes cannot fit in the context (at most " +
                   std::to_string(max_text_bytes) + " bytes)",
               "context_length_exceeded");
  }
  const json* max_tokens = endpoint == Endpoint::kChat ? field("max_completion_tokens") : nullptr;
  const char* max_tokens_name = "max_completion_tokens";
  if (!max_tokens) max_tokens = field("max_tokens"), max_tokens_name = "max_tokens";
  if (max_tokens) {
    r.max_tokens = int(Integer(*max_tokens, max_tokens_name, 0, std::numeric_limits<int>::max()));
    r.max_tokens_param = max_tokens_name;
  }
  if (const json* v = field("temperature")) {
    const double t = Number(*v, "temperature");
    if (t < 0 || t > 2) BadRequest("temperature", "'temperature' must be in [0, 2], got " + v->dump());
    r.sampler.temperature = float(t);
  }
  if (const json* v = field("top_p")) {
    const double p = Number(*v, "top_p");
    if (!(p > 0 && p <= 1)) BadRequest("top_p", "'top_p' must be in (0, 1], got " + v->dump());
    r.sampler.top_p = float(p);
  }
  if (const json* v = field("top_k")) r.sampler.top_k = int(Integer(*v, "top_k", 0, std::numeric_limits<int>::max()));
  if (const json* v = field("seed")) {
    // -1 is llama-server's "random"; other seeds are libllama's 32-bit ones.
    const int64_t seed = Integer(*v, "seed", -1, 0xFFFFFFFFll);
    r.sampler.seed = seed < 0 ? 0xFFFFFFFFu : uint32_t(seed);
  }
  if (const json* v = field("stop")) r.stop = Stops(*v);
  if (const json* v = field("n")) {
    if (Integer(*v, "n", 1, 128) != 1) BadRequest("n", "'n' must be 1: one choice per request");
  }
  if (const json* v = field("stream")) r.stream = Boolean(*v, "stream");
  if (const json* v = field("stream_options")) {
    if (!v->is_object()) BadRequest("stream_options", "'stream_options' must be an object, got " + TypeName(*v));
    const auto u = v->find("include_usage");
    if (u != v->end() && !u->is_null()) r.include_usage = Boolean(*u, "stream_options.include_usage");
  }
  if (const json* v = field("ignore_eos")) r.ignore_eos = Boolean(*v, "ignore_eos");
  if (r.ignore_eos && !r.max_tokens) BadRequest("ignore_eos", "'ignore_eos' needs 'max_tokens'");
  if (const json* v = field("return_progress")) r.return_progress = Boolean(*v, "return_progress");
  if (const json* v = field("chunkllm")) {
    if (!v->is_object()) BadRequest("chunkllm", "'chunkllm' must be an object, got " + TypeName(*v));
    const auto attn = v->find("attn");
    if (attn != v->end() && !attn->is_null()) {
      const std::string& name = String(*attn, "chunkllm.attn");
      std::string names;
      for (const auto& [n, method] : AttentionMethodNames()) {
        names += (names.empty() ? "" : ", ") + n;
        if (n == name) r.method = method;
      }
      if (!r.method) BadRequest("chunkllm.attn", "'chunkllm.attn' must be one of " + names + ", got \"" + name + "\"");
    }
  }
  return r;
}

}  // namespace chunkllm::serve
