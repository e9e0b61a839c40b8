// Bad requests to `chunkllm serve`: each gets its 4xx with an OpenAI error object whose param
// names the field at fault (null where no field is), and the server goes on serving.
#include <gtest/gtest.h>

#include <thread>

#include "serve/serve_fixture.h"
#include "test_util.h"

namespace chunkllm::test {
namespace {

struct BadCase {
  std::string name, path, body;
  int status;
  json param;  // the error's param (null for none)
};

json Base(bool chat) {
  return chat ? json{{"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}, {"max_tokens", 2}}
              : json{{"prompt", "hi"}, {"max_tokens", 2}};
}

std::string With(bool chat, const std::string& key, const json& value) {
  json j = Base(chat);
  j[key] = value;
  return j.dump();
}

void ExpectError(const HttpReply& r, int status, const json& param, const std::string& what) {
  EXPECT_EQ(r.status, status) << what << ": " << r.body;
  ASSERT_TRUE(r.j.is_object() && r.j.contains("error")) << what << ": " << r.body;
  const json& e = r.j["error"];
  EXPECT_EQ(e["param"], param) << what << ": " << r.body;
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << what;
  EXPECT_TRUE(e["type"].is_string()) << what;
  EXPECT_TRUE(e.contains("code")) << what;
}

std::string TinyModel() { return FixtureModel("serve-qwen2", SmallSpec(Arch::kQwen2, "qwen2")); }

TEST(ServeBadInput, EachCaseNamesItsFieldAndTheServerGoesOn) {
  serve::ServeOptions o = TinyServeOptions(TinyModel(), 128, 1);
  o.max_body_bytes = 1 << 16;
  InProcessServer s(o);
  const std::string chat = "/v1/chat/completions", text = "/v1/completions";
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += "word ";
  const json two_messages =
      json::array({{{"role", "user"}, {"content", "a"}}, {{"role", "user"}, {"content", 5}}});
  const json image_part = json::array({{{"role", "user"}, {"content", json::array({{{"type", "image_url"}}})}}});
  const std::vector<BadCase> cases = {
      {"not JSON", chat, "{\"messages\": [", 400, nullptr},
      {"not an object", text, "[1, 2]", 400, nullptr},
      {"messages missing", chat, json{{"max_tokens", 2}}.dump(), 400, "messages"},
      {"messages not an array", chat, json{{"messages", "hi"}}.dump(), 400, "messages"},
      {"messages empty", chat, json{{"messages", json::array()}}.dump(), 400, "messages"},
      {"role missing", chat, json{{"messages", json::array({{{"content", "hi"}}})}}.dump(), 400, "messages[0].role"},
      {"role unknown", chat, json{{"messages", json::array({{{"role", "robot"}, {"content", "hi"}}})}}.dump(), 400,
       "messages[0].role"},
      {"content a number", chat, json{{"messages", two_messages}}.dump(), 400, "messages[1].content"},
      {"content part not text", chat, json{{"messages", image_part}}.dump(), 400, "messages[0].content[0].type"},
      {"prompt missing", text, json{{"max_tokens", 2}}.dump(), 400, "prompt"},
      {"prompt a number", text, json{{"prompt", 3}}.dump(), 400, "prompt"},
      {"prompt two strings", text, json{{"prompt", {"a", "b"}}}.dump(), 400, "prompt"},
      {"max_tokens a string", text, With(false, "max_tokens", "ten"), 400, "max_tokens"},
      {"max_tokens negative", text, With(false, "max_tokens", -1), 400, "max_tokens"},
      {"max_tokens fractional", text, With(false, "max_tokens", 2.5), 400, "max_tokens"},
      {"max_completion_tokens", chat, With(true, "max_completion_tokens", "x"), 400, "max_completion_tokens"},
      {"temperature too high", text, With(false, "temperature", 3), 400, "temperature"},
      {"temperature a string", chat, With(true, "temperature", "hot"), 400, "temperature"},
      {"top_p zero", text, With(false, "top_p", 0), 400, "top_p"},
      {"top_k negative", text, With(false, "top_k", -1), 400, "top_k"},
      {"seed a string", text, With(false, "seed", "x"), 400, "seed"},
      {"seed too big", text, With(false, "seed", 1ll << 40), 400, "seed"},
      {"stop a number", text, With(false, "stop", 7), 400, "stop"},
      {"stop five strings", text, With(false, "stop", {"a", "b", "c", "d", "e"}), 400, "stop"},
      {"stop element a number", text, With(false, "stop", json::array({"a", 1})), 400, "stop[1]"},
      {"stream a string", text, With(false, "stream", "yes"), 400, "stream"},
      {"n two", text, With(false, "n", 2), 400, "n"},
      {"chunkllm not an object", text, With(false, "chunkllm", "dense"), 400, "chunkllm"},
      {"attn unknown", text, With(false, "chunkllm", {{"attn", "bogus"}}), 400, "chunkllm.attn"},
      {"attn needs adapters", chat, With(true, "chunkllm", {{"attn", "chunkllm"}}), 400, "chunkllm.attn"},
      {"prompt longer than the context", text, json{{"prompt", long_prompt}}.dump(), 400, "prompt"},
      {"max_tokens beyond the context", text, With(false, "max_tokens", 128), 400, "max_tokens"},
      {"body over the limit", text, json{{"prompt", std::string(70000, 'a')}}.dump(), 413, nullptr},
      {"unknown route", "/v1/embeddings", Base(false).dump(), 404, nullptr},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectError(Post(s.port(), c.path, c.body), c.status, c.param, c.name);
  }
  EXPECT_EQ(Get(s.port(), "/v1/nothing").status, 404);
  const HttpReply too_long = Post(s.port(), "/v1/completions", json{{"prompt", long_prompt}}.dump());
  EXPECT_EQ(too_long.j["error"]["code"], "context_length_exceeded");
  // Still serving, and nothing was left busy.
  const HttpReply ok = Post(s.port(), chat, Base(true).dump());
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_TRUE(WaitForMetric(s.port(), "chunkllm_slots_busy", 0, 10));
  const std::string m = Get(s.port(), "/metrics").body;
  EXPECT_GE(MetricValue(m, "chunkllm_requests_total{endpoint=\"completion\",status=\"400\"}"), 15);
}

TEST(ServeBadInput, ApiKeyIsRequiredExceptForHealth) {
  serve::ServeOptions o = TinyServeOptions(TinyModel(), 128, 1);
  o.api_key = "s3cret";
  InProcessServer s(o);
  const std::string body = Base(false).dump();
  ExpectError(Post(s.port(), "/v1/completions", body), 401, nullptr, "no key");
  ExpectError(Post(s.port(), "/v1/completions", body, {{"Authorization", "Bearer s3cre"}}), 401, nullptr, "wrong key");
  ExpectError(Post(s.port(), "/v1/completions", body, {{"Authorization", "s3cret"}}), 401, nullptr, "not a bearer");
  EXPECT_EQ(Get(s.port(), "/v1/models").status, 401);
  EXPECT_EQ(Get(s.port(), "/health").status, 200);
  const HttpReply ok = Post(s.port(), "/v1/completions", body, {{"Authorization", "Bearer s3cret"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
}

// Beyond the slots and the queue, a request is refused with 503 at once, and served once there
// is room again.
TEST(ServeBadInput, AFullQueueAnswers503) {
  // The 32K-token vocabulary: decode steps several times quicker than the Qwen2 model's.
  serve::ServeOptions o = TinyServeOptions(FixtureModel("serve-llama", SmallSpec(Arch::kLlama, "llama-spm")), 2048, 1);
  o.max_queue = 0;
  InProcessServer s(o);
  const json long_req = {{"prompt", "Go"}, {"max_tokens", 400}, {"ignore_eos", true}};
  HttpReply first;
  std::thread busy([&] { first = PostJson(s.port(), "/v1/completions", long_req); });
  // The slot is taken once the metrics say so; then a second request has nowhere to wait.
  EXPECT_TRUE(WaitForMetric(s.port(), "chunkllm_slots_busy", 1, 30));
  ExpectError(Post(s.port(), "/v1/completions", Base(false).dump()), 503, nullptr, "queue full");
  busy.join();
  EXPECT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.j["usage"]["completion_tokens"], 400) << "ignore_eos runs to max_tokens";
  EXPECT_TRUE(WaitForMetric(s.port(), "chunkllm_slots_busy", 0, 10));
  EXPECT_EQ(Post(s.port(), "/v1/completions", Base(false).dump()).status, 200);
}

}  // namespace
}  // namespace chunkllm::test
