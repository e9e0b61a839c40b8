// The subcommands end to end through the real binary, on small random-weight fixtures:
// `run` from a file (its text against the library's greedy decode), seeded sampling and the
// temperature, with a chat template, `bench -o json` rows and ratios, `inspect --json`,
// `mkmodel` shapes read back by the loader, and `chunks` against the engine's own chunk index.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "chunk/adapter_file.h"
#include "chunk/adapter_fixture.h"
#include "chunk/adapter_runtime.h"
#include "chunk/chunkllm_policy.h"
#include "core/file_util.h"
#include "model/gguf_file.h"
#include "model/model.h"
#include "model/session.h"
#include "test_util.h"
#include "text/llama_log.h"
#include "text/sampler.h"
#include "text/sentence_splitter.h"
#include "text/token_spans.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {


// The greedy continuation of `prompt` through the library (a Session with the CLI's default
// parameters, ArgMax, one piece per token) instead of the CLI's sampler chain. margins gets,
// per step, the gap between the two largest logits.
std::string GreedyContinuation(const std::string& model_path, const std::string& prompt, int n,
                               std::vector<float>* margins = nullptr) {
  InitLlamaBackend();
  auto model = Model::Load(model_path);
  auto tok = Tokenizer::Load(model_path);
  Session s(*model, SessionParams{});
  s.Prefill(tok->Tokenize(prompt, true));
  std::string text;
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = s.last_logits();
    const int32_t t = ArgMax(l);
    EXPECT_FALSE(tok->IsEndOfGeneration(t)) << "greedy step " << i << " ends the text";
    if (margins) {
      const float top = l[size_t(t)];
      l[size_t(t)] = -INFINITY;
      margins->push_back(top - *std::max_element(l.begin(), l.end()));
    }
    text += tok->TokenToPiece(t);
    s.Decode(t);
  }
  return text;
}

TEST(Commands, RunReadsThePromptFromAFile) {
  const std::string model = test::FixtureModel("cmd-llama", test::SmallSpec(Arch::kLlama, "llama-spm"));
  test::TempDir dir;
  WriteTextFile(dir.File("prompt.txt"), "Once upon a time");
  const test::CliResult r = test::RunCli({"run", "-m", model, "-f", dir.File("prompt.txt"), "-n", "5", "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The prompt is echoed, then the 5 greedy tokens, then a newline.
  EXPECT_EQ(r.out, "Once upon a time" + GreedyContinuation(model, "Once upon a time", 5) + "\n");
  EXPECT_NE(r.err.find("prompt: 5 tokens"), std::string::npos) << r.err;  // BOS + 4 pieces
  EXPECT_NE(r.err.find("generation: 5 tokens"), std::string::npos) << r.err;
}

TEST(Commands, SeededSamplingRepeats) {
  const std::string model = test::FixtureModel("cmd-llama", test::SmallSpec(Arch::kLlama, "llama-spm"));
  const auto a = test::RunCli({"run", "-m", model, "-p", "Hello", "-n", "12", "--temp", "0.9", "--seed", "7"});
  const auto b = test::RunCli({"run", "-m", model, "-p", "Hello", "-n", "12", "--temp", "0.9", "--seed", "7"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
}

// The seed and the temperature reach the draw. A random-weight model's next-token
// distribution is nearly flat (after "Hello" its 40 largest logits lie within 0.16 of each
// other: at --temp 0.9 the top token has p = 0.028, and two independent draws agree with
// probability sum p^2 = 0.025), so two seeds give the same 12 tokens with probability ~1e-19
// and a sampled text is not the greedy one; any seeds would do, and the outputs are a
// deterministic function of (model, prompt, seed), so the test cannot flicker.
TEST(Commands, SamplingFollowsTheSeedAndTheTemperature) {
  const std::string model = test::FixtureModel("cmd-llama", test::SmallSpec(Arch::kLlama, "llama-spm"));
  auto run = [&](const char* temp, const char* seed) {
    const auto r = test::RunCli({"run", "-m", model, "-p", "Hello", "-n", "12", "--temp", temp, "--seed", seed});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  std::vector<float> margins;
  const std::string greedy = "Hello" + GreedyContinuation(model, "Hello", 12, &margins) + "\n";
  EXPECT_EQ(run("0", "7"), greedy);
  const std::string seed7 = run("0.9", "7");
  EXPECT_NE(seed7, run("0.9", "8")) << "two seeds drew the same text";
  EXPECT_NE(seed7, greedy) << "--temp 0.9 drew the greedy text";
  // At temperature 1e-6 each other token weighs exp(-margin / 1e-6) against the greedy one:
  // nothing, for margins well above 1e-6 (checked; the smallest here is 0.0055), so the draw
  // is the greedy text whatever the seed, unless the temperature is ignored.
  for (float m : margins) ASSERT_GT(m, 1e-4f) << "a near tie: a tiny temperature need not be greedy";
  EXPECT_EQ(run("1e-6", "7"), greedy) << "the temperature did not scale the logits";
}

TEST(Commands, ChatUsesTheModelsTemplate) {
  // The Qwen2 vocab file carries a ChatML template.
  const std::string model = test::FixtureModel("cmd-qwen2", test::SmallSpec(Arch::kQwen2, "qwen2"));
  const auto r = test::RunCli({"run", "-m", model, "-p", "Hi there", "--chat", "-n", "3", "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The prompt is the template's text with its special tokens parsed as such.
  auto tok = Tokenizer::Load(model);
  const std::string formatted = tok->ApplyChatTemplate("Hi there");
  EXPECT_NE(formatted.find("<|im_start|>user"), std::string::npos) << formatted;
  const size_t n = tok->Tokenize(formatted, true, /*parse_special=*/true).size();
  EXPECT_LT(n, tok->Tokenize(formatted, true, false).size());  // specials are single tokens
  EXPECT_NE(r.err.find("prompt: " + std::to_string(n) + " tokens"), std::string::npos) << r.err;
  const std::string llama = test::FixtureModel("cmd-llama", test::SmallSpec(Arch::kLlama, "llama-spm"));
  const auto no_tmpl = test::RunCli({"run", "-m", llama, "-p", "Hi", "--chat"});
  EXPECT_NE(no_tmpl.exit_code, 0);
  EXPECT_NE(no_tmpl.err.find("no chat template"), std::string::npos) << no_tmpl.err;
}

// The rows are the requested tests (llama-bench's convention: a pp row has n_gen 0, a tg row
// n_prompt 0), each the mean of its -r samples, and our row's ratio is the quotient of the
// two engines' speeds on the same test.
TEST(Commands, BenchJsonRowsCarryTheFields) {
  const std::string model = test::FixtureModel("cmd-llama", test::SmallSpec(Arch::kLlama, "llama-spm"));
  const auto r = test::RunCli({"bench", "-m", model, "-p", "32", "-n", "4", "-d", "0,16", "-r", "2", "--ref", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 8u);  // {pp, tg} x {d0, d16} x {chunkllm, llama.cpp}
  size_t i = 0;
  for (int depth : {0, 16}) {
    for (const char* test : {"pp", "tg"}) {
      const auto& ours = rows[i], &ref = rows[i + 1];
      i += 2;
      EXPECT_EQ(ours["engine"], "chunkllm");
      EXPECT_EQ(ref["engine"], "llama.cpp");
      for (const auto* row : {&ours, &ref}) {
        const auto& j = *row;
        EXPECT_EQ(j["test"], test) << j;
        EXPECT_EQ(j["n_prompt"], std::string(test) == "pp" ? 32 : 0) << j;
        EXPECT_EQ(j["n_gen"], std::string(test) == "tg" ? 4 : 0) << j;
        EXPECT_EQ(j["depth"], depth) << j;
        EXPECT_GT(j["tokens_per_s"].get<double>(), 0.0);
        const auto samples = j["samples"].get<std::vector<double>>();
        ASSERT_EQ(samples.size(), 2u) << j;
        EXPECT_NEAR(j["tokens_per_s"].get<double>(), (samples[0] + samples[1]) / 2, 1e-9 * samples[0]) << j;
      }
      // The JSON carries doubles exactly (shortest round trip): the same division gives the same bits.
      EXPECT_DOUBLE_EQ(ours["ratio_to_llama_cpp"].get<double>(),
                       ours["tokens_per_s"].get<double>() / ref["tokens_per_s"].get<double>())
          << ours << ref;
      EXPECT_FALSE(ref.contains("ratio_to_llama_cpp"));
      EXPECT_FALSE(ours.contains("ratio_to_dense"));  // dense is not compared with itself
    }
  }
}

// --attn-kernel runs one engine per kernel in the same run; every tg row carries the bytes a
// decode step must read (weights with one embedding row, the attended K/V rows) and its time
// over the floor at the bandwidth the same run measured.
TEST(Commands, BenchComparesKernelsAndReportsTheMemoryFloor) {
  const std::string model = test::FixtureModel("cmd-llama", test::SmallSpec(Arch::kLlama, "llama-spm"));
  const auto r = test::RunCli({"bench", "-m", model, "-p", "0", "-n", "4", "-d", "0,16", "-r", "2", "--ref",
                               "--attn-kernel", "chunkllm,ggml", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 6u);  // {d0, d16} x {chunkllm, ggml, llama.cpp}
  auto m = Model::Load(model);
  const ModelConfig& c = m->config();
  const ggml_tensor* embd = m->weights().tok_embd;
  const double weights = m->tied_output() ? double(m->weight_bytes())
                                          : double(m->weight_bytes()) - double(ggml_nbytes(embd)) + double(embd->nb[1]);
  const double per_position = 2.0 * double(ggml_row_size(GGML_TYPE_F16, c.n_embd_kv())) * c.n_layer;
  for (size_t i = 0; i < rows.size(); i += 3) {
    const int depth = rows[i]["depth"];
    EXPECT_EQ(rows[i]["kernel"], "chunkllm");
    EXPECT_EQ(rows[i + 1]["kernel"], "ggml");
    EXPECT_EQ(rows[i + 2]["engine"], "llama.cpp");
    for (size_t k = i; k < i + 3; ++k) {
      const auto& j = rows[k];
      const double bw = j["read_bytes_per_s"];
      EXPECT_GT(bw, 1e8) << j;  // any machine reads more than 100 MB/s
      const double want = weights + (depth + 2.5) * per_position;  // steps at d+1 .. d+4 positions
      EXPECT_NEAR(j["step_bytes"].get<double>(), want, 1e-9 * want) << j;
      EXPECT_NEAR(j["over_floor"].get<double>(), bw / (j["tokens_per_s"].get<double>() * want),
                  1e-9 * j["over_floor"].get<double>()) << j;
    }
    // Each kernel's row is compared with llama.cpp, not with the other kernel.
    for (size_t k = i; k < i + 2; ++k)
      EXPECT_DOUBLE_EQ(rows[k]["ratio_to_llama_cpp"].get<double>(),
                       rows[k]["tokens_per_s"].get<double>() / rows[i + 2]["tokens_per_s"].get<double>());
  }
  // Independent of how the weights are counted: 16 positions deeper, 16 positions' K/V more.
  const double deeper = rows[3]["step_bytes"].get<double>() - rows[0]["step_bytes"].get<double>();
  EXPECT_NEAR(deeper, 16 * per_position, 1e-9 * deeper);
  const auto bad = test::RunCli({"bench", "-m", model, "-p", "0", "-n", "1", "-r", "1", "--attn-kernel", "fast"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--attn-kernel"), std::string::npos) << bad.err;
  const auto twice = test::RunCli({"bench", "-m", model, "-p", "0", "-n", "1", "-r", "1", "--attn-kernel", "ggml,ggml"});
  EXPECT_NE(twice.exit_code, 0);
  EXPECT_NE(twice.err.find("twice"), std::string::npos) << twice.err;
}

TEST(Commands, BenchDecodesSequencesTogetherWithNp) {
  // -np 1,3: tg rows of one sequence and of three decoded in one batch (each step appends a token
  // to every sequence and counts them all); pp only for one sequence; the floor counts the
  // weights once and each sequence's K/V.
  const std::string model = test::FixtureModel("cmd-llama", test::SmallSpec(Arch::kLlama, "llama-spm"));
  const auto r = test::RunCli({"bench", "-m", model, "-p", "8", "-n", "4", "-d", "16", "-np", "1,3", "-r", "1", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 3u) << rows;  // pp8 x1, tg4 x1, tg4 x3
  EXPECT_EQ(rows[0]["test"], "pp");
  EXPECT_EQ(rows[0]["parallel"], 1);
  EXPECT_EQ(rows[1]["test"], "tg");
  EXPECT_EQ(rows[1]["parallel"], 1);
  EXPECT_EQ(rows[2]["test"], "tg");
  EXPECT_EQ(rows[2]["parallel"], 3);
  EXPECT_DOUBLE_EQ(rows[2]["ratio_to_one_sequence"].get<double>(),
                   rows[2]["tokens_per_s"].get<double>() / rows[1]["tokens_per_s"].get<double>());
  auto m = Model::Load(model);
  const double per_position = 2.0 * double(ggml_row_size(GGML_TYPE_F16, m->config().n_embd_kv())) * m->config().n_layer;
  const double kv = (16 + 2.5) * per_position;  // steps at d+1 .. d+4 positions
  EXPECT_NEAR(rows[2]["step_bytes"].get<double>() - rows[1]["step_bytes"].get<double>(), 2 * kv, 1e-9 * kv);
  const double bw = rows[2]["read_bytes_per_s"];
  EXPECT_NEAR(rows[2]["over_floor"].get<double>(), 3 * bw / (rows[2]["tokens_per_s"].get<double>() * rows[2]["step_bytes"].get<double>()),
              1e-9 * rows[2]["over_floor"].get<double>());
  const auto md = test::RunCli({"bench", "-m", model, "-p", "0", "-n", "2", "-np", "2", "-r", "1"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("| tg2 x2 |"), std::string::npos) << md.out;
  const auto zero = test::RunCli({"bench", "-m", model, "-p", "0", "-n", "1", "-r", "1", "-np", "0"});
  EXPECT_NE(zero.exit_code, 0);
  EXPECT_NE(zero.err.find("-np"), std::string::npos) << zero.err;
}

TEST(Commands, BenchAttentionTimesEachKernelAgainstTheReadFloor) {
  // 3 layers of 300 rows, 6 heads on 2 KV heads of 64, 8 causal queries: both kernels and the
  // plain products; every figure derived from the shapes and the times it reports.
  const auto r = test::RunCli({"bench-attention", "--n-kv", "300", "--layers", "3", "--tokens", "8", "--matmul", "-r",
                               "3", "-t", "2", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& rows = j["rows"];
  ASSERT_EQ(rows.size(), 3u) << j;
  EXPECT_EQ(rows[0]["op"], "chunkllm");
  EXPECT_EQ(rows[1]["op"], "ggml");
  EXPECT_EQ(rows[2]["op"], "matmul");
  const double flops_layer = 4.0 * 64 * 300 * 8 * 6, bytes_layer = 2.0 * 300 * 2 * 64 * 2;  // f16 K and V
  const double bw = j["read_bytes_per_s"];
  ASSERT_GT(bw, 0);
  for (size_t i = 0; i < 3; ++i) {
    const double layers = i < 2 ? 3 : 1;  // the products are layer 0's
    EXPECT_DOUBLE_EQ(rows[i]["flops"].get<double>(), layers * flops_layer);
    EXPECT_DOUBLE_EQ(rows[i]["bytes"].get<double>(), layers * bytes_layer);
    ASSERT_EQ(rows[i]["seconds"].size(), 3u);
    const double s = rows[i]["median_s"];
    EXPECT_GT(s, 0);
    EXPECT_NEAR(rows[i]["over_read_floor"].get<double>(), s * bw / (layers * bytes_layer), 1e-9 * s * bw / bytes_layer);
  }
  const auto md = test::RunCli({"bench-attention", "--n-kv", "64", "--layers", "1", "--attn-kernel", "chunkllm", "-r", "1"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("| chunkllm |"), std::string::npos) << md.out;
  EXPECT_EQ(md.out.find("| ggml |"), std::string::npos) << md.out;
  // The other cache types, a decode step (split-KV) and ggml's f16 casts of an f32 cache; many
  // repetitions of a product whose work buffer (S as f16, 12.6 MB) is planned once: taken from
  // the context on every run, 13 runs would outgrow it.
  for (const char* type : {"q8_0", "f32"}) {
    const auto t = test::RunCli({"bench-attention", "--n-kv", "500", "--layers", "2", "--cache-type", type, "-r", "2", "-o", "json"});
    ASSERT_EQ(t.exit_code, 0) << type << ": " << t.err;
    const auto tj = nlohmann::json::parse(t.out);
    EXPECT_EQ(tj["kv_type"], type);
    const double row = std::string(type) == "f32" ? 2 * 64 * 4 : 2 * 2 * 34;  // 2 KV heads of 64: f32, or 2 q8_0 blocks of 34 bytes
    EXPECT_DOUBLE_EQ(tj["rows"][0]["bytes"].get<double>(), 2.0 * 2 * 500 * row) << type;
  }
  const auto many = test::RunCli({"bench-attention", "--n-kv", "8192", "--layers", "1", "--tokens", "128", "--matmul",
                                  "--attn-kernel", "chunkllm", "-r", "12", "-o", "json"});
  ASSERT_EQ(many.exit_code, 0) << many.err;
  EXPECT_EQ(nlohmann::json::parse(many.out)["rows"][1]["seconds"].size(), 12u);
  for (const auto& [args, flag] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--n-kv", "64", "--heads", "5"}, "--heads"}, {{"--n-kv", "64", "--head-dim", "40"}, "--head-dim"},
           {{"--n-kv", "64", "--tokens", "65"}, "--tokens"}, {{"--n-kv", "64", "--attn-kernel", "ggml,ggml"}, "twice"},
           {{"--n-kv", "100000000"}, "GiB"}, {{"--n-kv", "64", "--head-dim", "0"}, "--head-dim"},
           {{"--n-kv", "64", "--head-dim", "48", "--cache-type", "q8_0"}, "block"}}) {
    std::vector<std::string> cmd = {"bench-attention", "-r", "1"};
    cmd.insert(cmd.end(), args.begin(), args.end());
    const auto bad = test::RunCli(cmd);
    EXPECT_NE(bad.exit_code, 0) << flag;
    EXPECT_NE(bad.err.find(flag), std::string::npos) << bad.err;
  }
}

// Prefill is timed for every method, not only dense: a policy's own per-token work in a prompt
// (e.g. ChunkLLM's Chunk Adapter) is part of its prefill speed. ChunkLLM keeps its chunk index
// only at a prompt's end, so each timed prefill at a depth starts again from the prefix.
TEST(Commands, BenchTimesPrefillForEveryMethod) {
  InitLlamaBackend();
  test::TempDir dir;
  const std::string model = test::FixtureModel("cmd-llama", test::SmallSpec(Arch::kLlama, "llama-spm"));
  const std::string adapters = dir.File("a.gguf");
  test::WriteRandomAdapters(model, adapters, test::SmallAdapterHp(12));
  const auto r = test::RunCli({"bench", "-m", model, "-p", "32", "-n", "0", "-d", "0,64", "-r", "2", "--attn",
                               "dense,streaming,chunkllm", "--adapters", adapters, "--sink", "4", "--window", "16",
                               "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 6u) << r.out;  // pp32 x {d0, d64} x {dense, streaming, chunkllm}
  std::set<std::string> methods;
  for (const auto& row : rows) {
    EXPECT_EQ(row["test"], "pp");
    EXPECT_EQ(row["n_prompt"], 32);
    methods.insert(row["method"].get<std::string>());
    EXPECT_GT(row["tokens_per_s"].get<double>(), 0.0);
  }
  EXPECT_EQ(methods, (std::set<std::string>{"dense", "streaming", "chunkllm"}));
  // Per depth, every method's ratio to dense is its speed over dense's on the same test.
  for (size_t d = 0; d < 2; ++d) {
    const auto& dense = rows[3 * d];
    ASSERT_EQ(dense["method"], "dense");
    EXPECT_EQ(dense["depth"], d == 0 ? 0 : 64);
    EXPECT_FALSE(dense.contains("ratio_to_dense"));
    for (size_t k = 1; k < 3; ++k) {
      const auto& row = rows[3 * d + k];
      EXPECT_EQ(row["depth"], dense["depth"]);
      EXPECT_DOUBLE_EQ(row["ratio_to_dense"].get<double>(),
                       row["tokens_per_s"].get<double>() / dense["tokens_per_s"].get<double>())
          << row << dense;
    }
  }
}

// --prefill dense,sparse runs each ChunkLLM method once per prefill mode; a whole prompt's pp
// row (depth 0) carries the time to its first token and, for sparse prefill, the share of the
// prompt's causal past its tokens read (here the last batches gather 4 + 16 + 16 + chunks + 64
// of up to 448 positions).
TEST(Commands, BenchTimesTheFirstTokenOfDenseAndSparsePrefill) {
  InitLlamaBackend();
  test::TempDir dir;
  const std::string model = test::FixtureModel("cmd-llama", test::SmallSpec(Arch::kLlama, "llama-spm"));
  const std::string adapters = dir.File("a.gguf");
  test::WriteRandomAdapters(model, adapters, test::SmallAdapterHp(12));
  const auto r = test::RunCli({"bench", "-m", model, "-p", "448", "-n", "0", "-r", "1", "-u", "64", "--attn",
                               "dense,chunkllm", "--adapters", adapters, "--prefill", "dense,sparse",
                               "--prefill-budget", "16", "--prefill-window", "16", "--prefill-dense-tail", "0",
                               "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 3u) << r.out;  // dense; chunkllm x {dense, sparse} prefill
  EXPECT_EQ(rows[0]["method"], "dense");
  EXPECT_EQ(rows[0]["prefill"], "dense");
  EXPECT_EQ(rows[1]["method"], "chunkllm");
  EXPECT_EQ(rows[1]["prefill"], "dense");
  EXPECT_EQ(rows[2]["method"], "chunkllm");
  EXPECT_EQ(rows[2]["prefill"], "sparse");
  for (const auto& row : rows) {
    EXPECT_DOUBLE_EQ(row["time_to_first_token_s"].get<double>(), 448.0 / row["tokens_per_s"].get<double>()) << row;
  }
  EXPECT_DOUBLE_EQ(rows[1]["attended_fraction"].get<double>(), 1.0);
  EXPECT_LT(rows[2]["attended_fraction"].get<double>(), 0.9) << rows[2];
  EXPECT_DOUBLE_EQ(rows[2]["ratio_to_dense"].get<double>(),
                   rows[2]["tokens_per_s"].get<double>() / rows[0]["tokens_per_s"].get<double>());
  const auto twice = test::RunCli({"bench", "-m", model, "-p", "32", "-n", "0", "-r", "1", "--attn", "chunkllm",
                                   "--adapters", adapters, "--prefill", "sparse,sparse"});
  EXPECT_NE(twice.exit_code, 0);
  EXPECT_NE(twice.err.find("--prefill"), std::string::npos) << twice.err;
  const auto streaming = test::RunCli({"run", "-m", model, "-p", "hello", "-n", "1", "--attn", "streaming",
                                       "--prefill", "sparse"});
  EXPECT_NE(streaming.exit_code, 0);
  EXPECT_NE(streaming.err.find("--prefill sparse"), std::string::npos) << streaming.err;
}

// Evicting policies can be benchmarked (each timed run starts again from the prefix), and the
// memory columns see the full cache go: the KV rows in use fall to the window's, the memory
// held by at least the full cache's size.
TEST(Commands, BenchReportsPeakMemoryAndRunsEvictingPolicies) {
  const std::string model = test::FixtureModel("cmd-llama", test::SmallSpec(Arch::kLlama, "llama-spm"));
  const std::vector<std::string> base = {"bench", "-m", model, "-p", "0", "-n", "4", "-d", "200",
                                         "-r", "2", "--attn", "streaming", "--sink", "4", "--window", "16", "-o", "json"};
  std::vector<std::string> evict = base;
  evict.insert(evict.end(), {"--kv", "evict"});
  const auto r = test::RunCli(base), e = test::RunCli(evict);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const auto rr = nlohmann::json::parse(r.out)[0], er = nlohmann::json::parse(e.out)[0];
  EXPECT_GT(rr["process_peak_rss_mib"].get<double>(), 0.0);
  // Resident: the full cache holds 200 + 4 positions at the end of the last run; evict: sink
  // + window + the step's token, about 21 rows per layer.
  const double resident_kv = rr["peak_kv_used_mib"].get<double>(), evict_kv = er["peak_kv_used_mib"].get<double>();
  EXPECT_GT(resident_kv, 200.0 / 21.0 * evict_kv * 0.9) << resident_kv << " vs " << evict_kv;
  EXPECT_LT(er["peak_held_mib"].get<double>(), rr["peak_held_mib"].get<double>());
  EXPECT_LT(er["attended_fraction"].get<double>(), 0.2);
}

// --text: the bench context is prose from a folder (its JSON says so); too little text for the
// deepest test is refused by name.
TEST(Commands, BenchTakesItsContextFromText) {
  const std::string model = test::FixtureModel("cmd-llama", test::SmallSpec(Arch::kLlama, "llama-spm"));
  test::TempDir dir;
  std::filesystem::create_directories(dir.File("text"));
  std::string t;
  for (int i = 0; i < 20; ++i) t += "The ferry waited at the pier. The farmers moved their sheep before the bell.\n";
  WriteTextFile(dir.File("text/a.txt"), t);
  const auto r = test::RunCli({"bench", "-m", model, "-p", "0", "-n", "4", "-d", "64", "-r", "1", "--text",
                               dir.File("text"), "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)[0]["context"], dir.File("text"));
  const auto deep = test::RunCli({"bench", "-m", model, "-p", "0", "-n", "4", "-d", "100000", "-r", "1", "--text",
                                  dir.File("text")});
  EXPECT_NE(deep.exit_code, 0);
  EXPECT_NE(deep.err.find("fewer than one window of 100004"), std::string::npos) << deep.err;
}

TEST(Commands, InspectJsonListsEveryTensor) {
  const std::string model = test::FixtureModel("cmd-llama", test::SmallSpec(Arch::kLlama, "llama-spm"));
  const auto r = test::RunCli({"inspect", model, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["metadata"]["general.architecture"], "\"llama\"");
  EXPECT_EQ(j["tensors"].size(), 3u + 2u * 9u);  // embd, out norm, output + 9 per layer
  EXPECT_EQ(j["tensors"][0]["name"], "token_embd.weight");
  EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json::array({64, 32000}));
}

TEST(Commands, MkModelShapesReadBack) {
  test::TempDir dir;
  const auto r = test::RunCli({"mkmodel", "--arch", "qwen3", "--vocab", test::VocabPath("llama-spm"), "--n-embd", "96",
                               "--n-layer", "3", "--n-head", "6", "--n-head-kv", "3", "--head-dim", "32",
                               "--n-ff", "160", "--tied", "--type", "q8_0", "-o", dir.File("m.gguf")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto m = Model::Load(dir.File("m.gguf"));
  const ModelConfig& c = m->config();
  EXPECT_EQ(c.arch, Arch::kQwen3);
  EXPECT_EQ(c.n_embd, 96);
  EXPECT_EQ(c.n_layer, 3);
  EXPECT_EQ(c.n_head, 6);
  EXPECT_EQ(c.n_head_kv, 3);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.n_ff, 160);
  EXPECT_TRUE(c.has_qk_norm);
  EXPECT_TRUE(m->tied_output());
  EXPECT_STREQ(m->weight_type_name(), "q8_0");
}

// `chunks --json`: its sentence ends are the splitter's on the same text, its chunks are the
// chunk index a chunkllm session builds over BOS + the text's tokens, and its counts add up;
// a text longer than -c and adapters of another model are refused by name.
TEST(Commands, ChunksShowsTheEnginesChunkIndexAgainstTheSplitter) {
  InitLlamaBackend();
  test::TempDir dir;
  const std::string model = test::FixtureModel("cmd-llama", test::SmallSpec(Arch::kLlama, "llama-spm"));
  const std::string adapters = dir.File("a.gguf"), text_file = dir.File("t.txt");
  AdapterHyperParams hp;
  hp.d_adapter = 16, hp.rank = 8, hp.max_chunk = 12, hp.boundary_delay = 1;
  AdapterSet a = RandomAdapters(BaseModelInfoOf(*Model::Load(model), GgufFile::Open(model)), hp, 5);
  SaveAdapters(a, adapters);
  std::string text;
  for (int i = 0; i < 12; ++i) text += "Mr. Smith paid $" + std::to_string(3 + i) + ".50 for it. Did he? Yes! ";
  WriteTextFile(text_file, text);
  const auto r = test::RunCli({"chunks", "-m", model, "--adapters", adapters, "-f", text_file, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);

  auto tok = Tokenizer::Load(model);
  const std::vector<int32_t> ids = tok->Tokenize(text, false);
  const std::vector<uint8_t> labels = BoundaryLabels(text, TokenSpans(*tok, text, ids));
  std::vector<int> sentence_ends;
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i]) sentence_ends.push_back(int(i) + 1);
  EXPECT_EQ(j["sentence_ends"].get<std::vector<int>>(), sentence_ends);
  EXPECT_EQ(sentence_ends.size(), 36u);  // three sentences per repeat; "Mr." and "$3.50" end none

  auto loaded = Model::Load(model);
  AttentionOptions po;
  po.method = AttentionMethod::kChunkLlm;
  ChunkLlmPolicy policy(*loaded, std::make_shared<const AdapterRuntime>(a), po);
  SessionParams sp;
  sp.n_ctx = 4096;
  Session s(*loaded, sp, &policy);
  std::vector<int32_t> prompt = {tok->bos()};
  prompt.insert(prompt.end(), ids.begin(), ids.end());
  s.Prefill(prompt);
  ASSERT_EQ(int(j["chunks"].size()), policy.n_chunks());
  int64_t forced = 0, agree = 0;
  for (int c = 0; c < policy.n_chunks(); ++c) {
    const auto& jc = j["chunks"][size_t(c)];
    EXPECT_EQ(jc["begin"].get<int>(), policy.chunk_begin(c));
    EXPECT_EQ(jc["end"].get<int>(), policy.chunk_end(c));
    const bool is_forced = policy.chunk_end(c) - policy.chunk_begin(c) >= hp.max_chunk;
    EXPECT_EQ(jc["forced"].get<bool>(), is_forced) << c;
    forced += is_forced;
    if (!is_forced && std::count(sentence_ends.begin(), sentence_ends.end(), policy.chunk_end(c) - 1)) ++agree;
  }
  const int64_t tp = j["tp"], fp = j["fp"], fn = j["fn"];
  EXPECT_EQ(j["forced"].get<int64_t>(), forced);
  EXPECT_EQ(tp, agree);
  EXPECT_EQ(tp + fp + forced, policy.n_chunks() - (policy.chunk_end(0) == 1 ? 1 : 0));
  EXPECT_EQ(tp + fn, int64_t(sentence_ends.size())
                        - std::count_if(sentence_ends.begin(), sentence_ends.end(), [&](int e) {
                            for (int c = 0; c < policy.n_chunks(); ++c)
                              if (policy.chunk_end(c) - 1 == e && policy.chunk_end(c) - policy.chunk_begin(c) >= hp.max_chunk)
                                return true;
                            return false;
                          }));
  EXPECT_NEAR(j["f1"].get<double>(), 2.0 * double(tp) / double(std::max<int64_t>(1, 2 * tp + fp + fn)), 1e-12);

  const auto small = test::RunCli({"chunks", "-m", model, "--adapters", adapters, "-f", text_file, "-c", "32"});
  EXPECT_NE(small.exit_code, 0);
  EXPECT_NE(small.err.find("context holds 32 (-c)"), std::string::npos) << small.err;
  const std::string other = test::FixtureModel("cmd-qwen2", test::SmallSpec(Arch::kQwen2, "qwen2"));
  const auto foreign = test::RunCli({"chunks", "-m", other, "--adapters", adapters, "-p", "Hello there."});
  EXPECT_NE(foreign.exit_code, 0);
  EXPECT_NE(foreign.err.find(adapters), std::string::npos) << foreign.err;
}

}  // namespace
}  // namespace chunkllm
