// `chunkllm serve` in this process on tiny random models: health while loading, the models list,
// metrics, streamed answers equal to non-streamed ones, the prompt cache (cached tokens reported,
// the same answer as a cold server), parallel requests equal to their answers alone, and a client
// that goes away freeing its slot.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "serve/serve_fixture.h"
#include "test_util.h"

namespace chunkllm::test {
namespace {

std::string Qwen2Model() { return FixtureModel("serve-qwen2", SmallSpec(Arch::kQwen2, "qwen2")); }

json Completion(const std::string& prompt, int max_tokens, uint32_t seed, bool stream = false) {
  return {{"prompt", prompt}, {"max_tokens", max_tokens}, {"seed", seed}, {"temperature", 0.9}, {"stream", stream}};
}

json Chat(const std::string& text, int max_tokens, uint32_t seed, bool stream = false) {
  return {{"messages", json::array({{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", text}}})},
          {"max_tokens", max_tokens},
          {"seed", seed},
          {"temperature", 0.9},
          {"stream", stream}};
}

TEST(Serve, HealthIs503WhileLoadingThen200) {
  serve::ServeOptions o = TinyServeOptions(Qwen2Model());
  InProcessServer s(o, /*load=*/false);
  const HttpReply loading = Get(s.port(), "/health");
  EXPECT_EQ(loading.status, 503);
  EXPECT_EQ(loading.j["error"]["type"], "unavailable_error") << loading.body;
  EXPECT_EQ(PostJson(s.port(), "/v1/completions", Completion("Hi", 2, 1)).status, 503);
  s.Load();
  const HttpReply ready = Get(s.port(), "/health");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.j["status"], "ok");
  const HttpReply models = Get(s.port(), "/v1/models");
  ASSERT_EQ(models.status, 200) << models.body;
  EXPECT_EQ(models.j["object"], "list");
  EXPECT_EQ(models.j["data"][0]["id"], "serve-qwen2.gguf");
  EXPECT_EQ(models.j["data"][0]["chunkllm"]["attn"], "dense");
}

TEST(Serve, StreamedTextEqualsTheAnswerAndUsageAddsUp) {
  InProcessServer s(TinyServeOptions(Qwen2Model()));
  for (const bool chat : {false, true}) {
    SCOPED_TRACE(chat ? "chat" : "completion");
    const std::string path = chat ? "/v1/chat/completions" : "/v1/completions";
    const json req = chat ? Chat("Tell me about the sea", 24, 7) : Completion("Once upon a time", 24, 7);
    const HttpReply plain = PostJson(s.port(), path, req);
    ASSERT_EQ(plain.status, 200) << plain.body;
    EXPECT_EQ(plain.j["object"], chat ? "chat.completion" : "text_completion");
    const std::string text = AnswerText(plain.j);
    EXPECT_FALSE(text.empty());
    const json& usage = plain.j["usage"];
    EXPECT_GT(usage["prompt_tokens"].get<int>(), 0);
    EXPECT_EQ(usage["total_tokens"], usage["prompt_tokens"].get<int>() + usage["completion_tokens"].get<int>());
    EXPECT_TRUE(usage["prompt_tokens_details"].contains("cached_tokens"));
    const json& figures = plain.j["chunkllm"];
    EXPECT_EQ(figures["attn"], "dense");
    EXPECT_EQ(figures["attended_fraction"], 1.0);  // dense reads every position
    EXPECT_GT(figures["decode_tokens_per_s"].get<double>(), 0.0);
    const std::string finish = plain.j["choices"][0]["finish_reason"];
    EXPECT_EQ(finish, usage["completion_tokens"] == 24 ? "length" : "stop");

    json sreq = req;
    sreq["stream"] = true;
    sreq["stream_options"] = {{"include_usage", true}};
    const HttpReply streamed = PostJson(s.port(), path, sreq);
    ASSERT_EQ(streamed.status, 200) << streamed.body;
    const SseStream sse = ParseSse(streamed.body);
    EXPECT_TRUE(sse.done) << "no data: [DONE]";
    EXPECT_EQ(sse.Text(), text);
    const json last = sse.Final();
    ASSERT_TRUE(last.is_object()) << streamed.body;
    EXPECT_EQ(last["choices"][0]["finish_reason"], finish);
    EXPECT_EQ(last["chunkllm"]["attn"], "dense");
    EXPECT_EQ(sse.events.back()["usage"]["completion_tokens"], usage["completion_tokens"]);
    if (chat) EXPECT_EQ(sse.events.front()["choices"][0]["delta"]["role"], "assistant");
  }
}

TEST(Serve, ProgressEventsCoverTheWholePrompt) {
  InProcessServer s(TinyServeOptions(Qwen2Model()));
  std::string prompt;
  for (int i = 0; i < 20; ++i) prompt += "word" + std::to_string(i) + " ";
  json req = Completion(prompt, 2, 1, true);
  req["return_progress"] = true;
  const SseStream sse = ParseSse(PostJson(s.port(), "/v1/completions", req).body);
  std::vector<json> progress;
  for (const json& e : sse.events) {
    if (e.contains("prompt_progress")) progress.push_back(e["prompt_progress"]);
  }
  ASSERT_GE(progress.size(), 3u) << "a prompt of several micro-batches reports each";
  const int total = progress.back()["total"];
  EXPECT_GT(total, 16);
  EXPECT_EQ(progress.back()["processed"], total);
  for (size_t i = 1; i < progress.size(); ++i) EXPECT_GT(progress[i]["processed"], progress[i - 1]["processed"]);
  EXPECT_TRUE(sse.done);
}

TEST(Serve, SecondTurnUsesThePromptCacheAndAnswersAsACold) {
  std::string doc;
  for (int i = 0; i < 30; ++i) doc += "Line " + std::to_string(i) + " of the long document. ";
  const json first = Completion(doc + "Question one?", 8, 3);
  const json again = Completion(doc + "Question one?", 8, 3);
  const json second = Completion(doc + "Question two, longer?", 8, 3);
  InProcessServer warm(TinyServeOptions(Qwen2Model(), 1024, 1));
  const HttpReply a = PostJson(warm.port(), "/v1/completions", first);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.j["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  const HttpReply b = PostJson(warm.port(), "/v1/completions", again);
  EXPECT_EQ(b.j["usage"]["prompt_tokens_details"]["cached_tokens"], b.j["usage"]["prompt_tokens"]) << b.body;
  EXPECT_EQ(AnswerText(b.j), AnswerText(a.j));
  const HttpReply c = PostJson(warm.port(), "/v1/completions", second);
  const int cached = c.j["usage"]["prompt_tokens_details"]["cached_tokens"];
  EXPECT_GT(cached, 200) << "the document's tokens come from the cache";
  EXPECT_LT(cached, c.j["usage"]["prompt_tokens"].get<int>());
  InProcessServer cold(TinyServeOptions(Qwen2Model(), 1024, 1));
  const HttpReply c_cold = PostJson(cold.port(), "/v1/completions", second);
  EXPECT_EQ(c_cold.j["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  EXPECT_EQ(AnswerText(c.j), AnswerText(c_cold.j));
  const std::string m = Get(warm.port(), "/metrics").body;
  EXPECT_EQ(MetricValue(m, "chunkllm_prompt_cached_tokens_total"),
            double(cached + b.j["usage"]["prompt_tokens"].get<int>()));
}

TEST(Serve, ParallelRequestsEqualTheirAnswersAlone) {
  InProcessServer s(TinyServeOptions(Qwen2Model(), 512, 3));
  const std::vector<json> reqs = {Completion("The cat sat", 16, 11), Chat("Name three rivers", 16, 12),
                                  Completion("A long time ago in a galaxy", 16, 13)};
  const auto path = [](const json& r) { return r.contains("messages") ? "/v1/chat/completions" : "/v1/completions"; };
  std::vector<std::string> alone;
  for (const json& r : reqs) alone.push_back(AnswerText(PostJson(s.port(), path(r), r).j));
  for (int round = 0; round < 2; ++round) {
    std::vector<std::string> together(reqs.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < reqs.size(); ++i) {
      threads.emplace_back([&, i] {
        json r = reqs[i];
        r["stream"] = round == 1;
        const HttpReply rep = PostJson(s.port(), path(r), r);
        together[i] = round == 1 ? ParseSse(rep.body).Text() : AnswerText(rep.j);
      });
    }
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(together[i], alone[i]) << "request " << i << " round " << round;
  }
  // Some of the parallel requests' decode steps ran in batches (model/session_batch.h): when
  // every step decodes one slot, the two counters are equal.
  const std::string metrics = Get(s.port(), "/metrics").body;
  EXPECT_GT(MetricValue(metrics, "chunkllm_decode_round_slots_total"), MetricValue(metrics, "chunkllm_decode_rounds_total"))
      << metrics;
}

// Sends a request on a raw socket and closes it after `after_ms`: the slot must be free soon after.
void RequestAndHangUp(int port, const json& body, int after_ms) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const std::string b = body.dump();
  const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(b.size()) + "\r\n\r\n" + b;
  ASSERT_EQ(write(fd, req.data(), req.size()), ssize_t(req.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(after_ms));
  close(fd);
}

TEST(Serve, AClientThatLeavesFreesItsSlot) {
  // One slot and a generation of 8000 tokens, far more than the seconds this test waits.
  InProcessServer s(TinyServeOptions(Qwen2Model(), 8192, 1));
  for (const bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "stream" : "non-stream");
    json long_req = Completion("Go on and on", 8000, 5, stream);
    long_req["ignore_eos"] = true;
    std::thread client([&] { RequestAndHangUp(s.port(), long_req, 300); });
    ASSERT_TRUE(WaitForMetric(s.port(), "chunkllm_slots_busy", 1, 10)) << "the request never started";
    client.join();
    EXPECT_TRUE(WaitForMetric(s.port(), "chunkllm_slots_busy", 0, 5)) << "the slot is still busy";
    const HttpReply next = PostJson(s.port(), "/v1/completions", Completion("Next", 4, 1));
    EXPECT_EQ(next.status, 200) << next.body;
    EXPECT_LT(next.j["usage"]["completion_tokens"].get<int>(), 5);
  }
}

}  // namespace
}  // namespace chunkllm::test
