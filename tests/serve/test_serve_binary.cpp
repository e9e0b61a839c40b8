// `chunkllm serve` as the real binary: on the bundled backbone and adapters its answers equal
// `chunkllm run`'s for the same prompt, seed and method, and a chat's next turn takes the previous
// prompt from the prompt cache and answers as `run` does cold; the official `openai`
// npm client drives chat, completions and streaming; a bounded load run has no failures and keeps
// the server's memory.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "serve/serve_fixture.h"
#include "test_util.h"

namespace chunkllm::test {
namespace {

const std::string kBackbone = std::string(CHUNKLLM_MODELS_DIR) + "/demo-backbone.gguf";
const std::string kAdapters = std::string(CHUNKLLM_MODELS_DIR) + "/demo-adapters.gguf";

// A document of a few hundred tokens in plain sentences (the adapters end chunks at sentences).
std::string Document(int sentences = 24) {
  std::string doc;
  const char* names[] = {"Anna", "Boris", "Clara", "David", "Elena", "Farid", "Greta", "Hugo"};
  for (int i = 0; i < sentences; ++i) {
    doc += std::string(names[i % 8]) + " walked to the market on day " + std::to_string(i + 1) +
           " and bought " + std::to_string(3 + i % 5) + " apples. ";
  }
  return doc + "The special number is 4721. ";
}

// `chunkllm run`'s continuation of prompt (its stdout is the prompt, the text, a newline).
std::string RunText(const std::string& method, const std::string& prompt, int n, uint32_t seed,
                    const std::vector<std::string>& flags = {}) {
  std::vector<std::string> args = {"run", "-m", kBackbone, "--adapters", kAdapters, "--attn", method, "-p", prompt, "-n",
                                   std::to_string(n), "--seed", std::to_string(seed), "-c", "2048", "-t", "2"};
  args.insert(args.end(), flags.begin(), flags.end());
  const CliResult r = RunCli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.out.size() < prompt.size() + 1) return "<run printed too little>";
  EXPECT_EQ(r.out.substr(0, prompt.size()), prompt);
  return r.out.substr(prompt.size(), r.out.size() - prompt.size() - 1);
}

TEST(ServeBinary, BundledModelsAnswerAsRunDoesAndReuseTheDocument) {
  ServerProcess server({"-m", kBackbone, "--adapters", kAdapters, "-c", "2048", "-np", "2", "-t", "2"});
  ASSERT_TRUE(server.ok()) << server.error();
  const std::string doc = Document();
  // The prompt ends with a newline (a byte token, which never merges with what follows), so its
  // tokens stay a prefix of the next turn's.
  const std::string q1 = doc + "\nWho walked on day 3?\n";
  for (const std::string method : {"dense", "chunkllm"}) {
    SCOPED_TRACE(method);
    const json req = {{"prompt", q1}, {"max_tokens", 24}, {"seed", 5}, {"chunkllm", {{"attn", method}}}};
    const HttpReply a = PostJson(server.port(), "/v1/completions", req);
    ASSERT_EQ(a.status, 200) << a.body;
    const std::string answer = AnswerText(a.j);
    EXPECT_EQ(answer, RunText(method, q1, 24, 5));
    const json& figures = a.j["chunkllm"];
    EXPECT_EQ(figures["attn"], method);
    if (method == "chunkllm") {
      EXPECT_LT(figures["attended_fraction"].get<double>(), 1.0) << a.body;
      EXPECT_GT(figures["selections"].get<int>(), 0) << a.body;
    } else {
      EXPECT_EQ(figures["attended_fraction"], 1.0);
    }
    // The next turn: the previous prompt, its answer and a new question. The previous prompt
    // comes from the cache (for ChunkLLM its chunk index goes back to that prompt's end), and
    // the answer is what `run` gives for the whole prompt cold.
    const std::string q2 = q1 + answer + "\nWhat is the special number?\n";
    json next = req;
    next["prompt"] = q2;
    const HttpReply b = PostJson(server.port(), "/v1/completions", next);
    ASSERT_EQ(b.status, 200) << b.body;
    const int cached = b.j["usage"]["prompt_tokens_details"]["cached_tokens"];
    const int q1_tokens = a.j["usage"]["prompt_tokens"];
    EXPECT_GT(q1_tokens, 300);
    if (method == "chunkllm") {
      EXPECT_EQ(cached, q1_tokens) << "back to the previous prompt's end";
    } else {
      EXPECT_GE(cached, q1_tokens) << b.body;
    }
    EXPECT_EQ(AnswerText(b.j), RunText(method, q2, 24, 5));
  }
  EXPECT_EQ(server.Terminate(), 0) << "SIGTERM ends the server cleanly";
}

TEST(ServeBinary, SparsePrefillAnswersAsRunDoes) {
  // Small knobs so a prompt of ~1,000 tokens has sparse micro-batches (a batch is sparse when its
  // causal past outgrows sink + budget + window + three 64-token chunks + itself, ~290 rows): the
  // server prefills one micro-batch per round and tells the session where the prompt ends, `run`
  // prefills it in one call; both must pick the same rows, so the same logits and text.
  const std::vector<std::string> knobs = {"--prefill", "sparse", "--prefill-budget", "32", "--prefill-window", "32",
                                          "--prefill-dense-tail", "32", "-u", "32"};
  std::vector<std::string> args = {"-m", kBackbone, "--adapters", kAdapters, "-c", "2048", "-np", "1", "-t", "2"};
  args.insert(args.end(), knobs.begin(), knobs.end());
  ServerProcess server(args);
  ASSERT_TRUE(server.ok()) << server.error();
  const std::string q = Document(64) + "\nWho walked on day 3?\n";
  const json req = {{"prompt", q}, {"max_tokens", 16}, {"seed", 5}, {"chunkllm", {{"attn", "chunkllm"}}}};
  const HttpReply a = PostJson(server.port(), "/v1/completions", req);
  ASSERT_EQ(a.status, 200) << a.body;
  // run would prefill a 1-token last batch through the decode path where the server splits the
  // end 31 + 2: the comparison needs a prompt whose length leaves no such batch.
  ASSERT_NE(a.j["usage"]["prompt_tokens"].get<int>() % 32, 1) << "choose another document length";
  const double prefill_attended = a.j["chunkllm"]["prefill_attended_fraction"];
  EXPECT_LT(prefill_attended, 0.9) << "the prompt's later micro-batches read part of their past";
  EXPECT_GT(prefill_attended, 0.0);
  EXPECT_EQ(AnswerText(a.j), RunText("chunkllm", q, 16, 5, knobs));
  EXPECT_EQ(server.Terminate(), 0);
}

TEST(ServeBinary, OpenAiNpmClientDrivesChatCompletionsAndStreaming) {
  const std::string client_dir = CHUNKLLM_OPENAI_NODE_DIR;
  ASSERT_EQ(system(("test -f " + client_dir + "/node_modules/openai/package.json").c_str()), 0)
      << "the openai npm client is not in " << client_dir << ": run scripts/fetch-deps.sh";
  const std::string model = FixtureModel("serve-qwen2", SmallSpec(Arch::kQwen2, "qwen2"));
  ServerProcess server({"-m", model, "-c", "512", "-np", "2", "-t", "2", "--api-key", "test-key"});
  ASSERT_TRUE(server.ok()) << server.error();
  setenv("NODE_PATH", (client_dir + "/node_modules").c_str(), 1);
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port()) + "/v1";
  const CliResult r = RunCli({"node", std::string(CHUNKLLM_SERVE_TEST_DIR) + "/openai_client.cjs", base, "test-key"}, 120,
                             "/usr/bin/env");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json out = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(out.is_object()) << r.out;
  EXPECT_EQ(out["model"], "serve-qwen2.gguf");
  EXPECT_FALSE(out["chat"].get<std::string>().empty());
  EXPECT_EQ(out["chat_stream"], out["chat"]);
  EXPECT_EQ(out["completion_stream"], out["completion"]);
  EXPECT_EQ(out["chat_stream_usage"]["completion_tokens"], out["chat_usage"]["completion_tokens"]);
  EXPECT_EQ(out["chat_chunkllm"]["attn"], "dense");
  EXPECT_EQ(out["wrong_key_status"], 401);
  // What the client saw is what the server answers to the same request directly.
  const json direct = {{"prompt", "The mountain"}, {"max_tokens", 16}, {"seed", 22}, {"temperature", 0.8}};
  const HttpReply d = PostJson(server.port(), "/v1/completions", direct, {{"Authorization", "Bearer test-key"}});
  EXPECT_EQ(AnswerText(d.j), out["completion"].get<std::string>());
}

TEST(ServeBinary, LoadRunHasNoFailuresAndKeepsItsMemory) {
  // The 32K-token vocabulary (quicker steps than Qwen2's 151K); it has no chat template, so the
  // chat requests take the ChatML fallback.
  const std::string model = FixtureModel("serve-llama", SmallSpec(Arch::kLlama, "llama-spm"));
  ServerProcess server({"-m", model, "-c", "512", "-np", "4", "-t", "2", "--max-queue", "16"});
  ASSERT_TRUE(server.ok()) << server.error();
  std::atomic<int> failures{0}, done{0};
  const auto run = [&](int n_per_thread) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        auto client = Client(server.port(), 60);
        for (int i = 0; i < n_per_thread; ++i) {
          const int k = t * 1000 + i;
          json req = {{"max_tokens", 8}, {"seed", k}, {"stream", k % 3 == 0}};
          std::string path = "/v1/completions";
          if (k % 2) {
            req["messages"] = json::array({{{"role", "user"}, {"content", "Question " + std::to_string(k)}}});
            path = "/v1/chat/completions";
          } else {
            req["prompt"] = "Request number " + std::to_string(k) + " says";
          }
          const auto res = client->Post(path.c_str(), req.dump(), "application/json");
          const bool ok = res && res->status == 200 &&
                          (k % 3 == 0 ? ParseSse(res->body).done : res->body.find("\"usage\"") != std::string::npos);
          if (!ok) ++failures;
          ++done;
        }
      });
    }
    for (auto& th : threads) th.join();
  };
  run(5);  // warm-up: every slot used, every path taken
  const long rss_warm = server.RssKb();
  run(40);
  const long rss_end = server.RssKb();
  EXPECT_EQ(done.load(), 8 * 45);
  EXPECT_EQ(failures.load(), 0);
  ASSERT_GT(rss_warm, 0);
  EXPECT_LE(rss_end, rss_warm + rss_warm / 20) << "RSS after warm-up " << rss_warm << " kB, at the end " << rss_end;
  // Read once: a slot reports its end before its client gets the answer.
  const std::string m = Get(server.port(), "/metrics").body;
  EXPECT_EQ(MetricValue(m, "chunkllm_slots_busy"), 0);
  EXPECT_EQ(MetricValue(m, "chunkllm_generations_total"), 8 * 45);
  EXPECT_EQ(server.Terminate(), 0);
}

}  // namespace
}  // namespace chunkllm::test
