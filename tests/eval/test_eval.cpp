// `chunkllm eval`: the scorer on hand-made cases, an end-to-end run on a tiny random-weight
// model whose report files carry their fields and whose rows are scored from the generated
// text alone, the adapters' metrics section, the --dump / --tasks round trip, bad JSONL.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "chunk/adapter_file.h"
#include "chunk/adapter_fixture.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/log_softmax.h"
#include "eval/answer_agreement.h"
#include "eval/fidelity.h"
#include "model/session.h"
#include "chunk/policy_spec.h"
#include "model/gguf_file.h"
#include "model/model.h"
#include "tasks/scoring.h"
#include "test_util.h"
#include "text/llama_log.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

TEST(Scoring, StringMatchAllOnHandMadeCases) {
  EXPECT_EQ(StringMatchAll("The pass key is 12345.", {"12345"}), 1.0);
  EXPECT_EQ(StringMatchAll("THE KEY IS ALPHA", {"alpha"}), 1.0);  // case-insensitive
  EXPECT_EQ(StringMatchAll("only 111 here", {"111", "222"}), 0.5);
  EXPECT_EQ(StringMatchAll("", {"1"}), 0.0);
  EXPECT_EQ(StringMatchAll("1234", {"12345"}), 0.0);  // a prefix of the answer is not the answer
  EXPECT_EQ(StringMatchAll("anything", {}), 0.0);
  // "" is in every prediction: scoring it would give any output full marks.
  EXPECT_THROW(StringMatchAll("anything", {""}), Error);
  EXPECT_THROW(StringMatchAll("12345", {"12345", ""}), Error);
}

std::string TinyModel() {
  RandomModelSpec spec;
  spec.vocab_path = test::VocabPath("llama-spm");
  spec.n_embd = 64, spec.n_layer = 2, spec.n_head = 4, spec.n_head_kv = 2, spec.n_ctx_train = 2048;
  return test::FixtureModel("eval-tiny", spec);
}

// A haystack folder of plain prose (the tests need no downloaded data).
std::string Haystack(const test::TempDir& dir) {
  const char* para =
      "The harbour was quiet that morning. Fishing boats rocked against the pier, and gulls circled above the nets. "
      "In the valley the river rose after three days of rain. Farmers moved their sheep to the upper fields. "
      "The library opened at nine, and students waited on the steps with coffee and notes.\n\n";
  std::filesystem::create_directories(dir.File("hay"));
  std::string text;
  for (int i = 0; i < 40; ++i) text += para;
  WriteTextFile(dir.File("hay/prose.txt"), text);
  return dir.File("hay");
}

std::vector<nlohmann::json> ReadJsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// Each row's score is string_match_all of its own prediction, and the prediction is the
// generated text only: at most max_new_tokens pieces, none of the prompt in it. A random-weight
// model cannot find a 5- or 7-digit number in its context, so every row scores 0 (an eval that
// scored the prompt, or a scorer that gave full marks, would score 1).
TEST(EvalCli, EndToEndReportHasItsFields) {
  test::TempDir dir;
  const std::string out = dir.File("report"), hay = Haystack(dir);
  const std::vector<std::string> gen = {"-m", TinyModel(), "--task", "passkey,niah_single", "--lengths", "256,512",
                                        "--depths", "0,1", "--haystack", hay};
  // The same tasks written out (generation is seeded): the records the rows belong to.
  std::vector<std::string> dump = {"eval"};
  dump.insert(dump.end(), gen.begin(), gen.end());
  dump.insert(dump.end(), {"--dump", dir.File("tasks.jsonl")});
  ASSERT_EQ(test::RunCli(dump).exit_code, 0);
  const auto records = ReadJsonl(dir.File("tasks.jsonl"));
  ASSERT_EQ(records.size(), 2u * 2 * 2);  // tasks x lengths x depths
  std::vector<std::string> args = {"eval"};
  args.insert(args.end(), gen.begin(), gen.end());
  args.insert(args.end(), {"--attn", "dense,streaming", "--window", "64", "-o", out, "--fidelity-docs", "2",
                           "--fidelity-tokens", "32"});
  const auto r = test::RunCli(args, 600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json config = nlohmann::json::parse(ReadTextFile(out + "/config.json"));
  for (const char* k : {"model", "tasks", "lengths", "depths", "methods", "seed", "attention", "n_ctx"}) {
    EXPECT_TRUE(config.contains(k)) << k;
  }
  const auto rows = ReadJsonl(out + "/results.jsonl");
  ASSERT_EQ(rows.size(), 2u * 2 * 2 * 2);  // tasks x lengths x depths x methods
  for (const auto& row : rows) {
    for (const char* k : {"method", "task", "length", "depth", "prediction", "answers", "score", "attended_fraction",
                          "resident_fraction", "selections_per_token", "decode_tokens_per_s", "prompt_tokens"}) {
      ASSERT_TRUE(row.contains(k)) << k;
    }
    if (row["method"] == "streaming") EXPECT_LT(row["attended_fraction"].get<double>(), 1.0);
    if (row["method"] == "dense") EXPECT_EQ(row["attended_fraction"].get<double>(), 1.0);
  }
  // A prediction of n tokens is at most n times the longest piece of the vocabulary.
  auto tok = Tokenizer::Load(TinyModel());
  size_t longest_piece = 0;
  for (int32_t t = 0; t < tok->n_vocab(); ++t) longest_piece = std::max(longest_piece, tok->TokenToPiece(t).size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const auto& rec = records[i % records.size()];  // every method runs the tasks in their order
    ASSERT_EQ(row["task"], rec["task"]) << i;
    ASSERT_EQ(row["length"], rec["length"]) << i;
    ASSERT_EQ(row["depth"], rec["depth"]) << i;
    ASSERT_EQ(row["answers"], rec["answers"]) << i;
    const std::string pred = row["prediction"], context = rec["context"], question = rec["question"];
    const std::string prompt = context + question + rec["answer_prefix"].get<std::string>();
    EXPECT_EQ(row["prompt_tokens"].get<size_t>(), tok->Tokenize(prompt, true).size()) << i;
    EXPECT_EQ(row["score"].get<double>(), StringMatchAll(pred, row["answers"].get<std::vector<std::string>>()))
        << i << ": " << pred;
    EXPECT_EQ(row["score"].get<double>(), 0.0) << i << ": a random-weight model found " << row["answers"] << " in "
                                               << pred;
    EXPECT_LE(pred.size(), rec["max_new_tokens"].get<size_t>() * longest_piece) << i << ": " << pred;
    // Neither end of the context nor the question is in the generated text.
    for (const std::string& part : {context.substr(0, 40), context.substr(context.size() - 40), question.substr(1)}) {
      EXPECT_EQ(pred.find(part), std::string::npos) << i << ": '" << part << "' in " << pred;
    }
  }
  const nlohmann::json summary = nlohmann::json::parse(ReadTextFile(out + "/summary.json"));
  ASSERT_EQ(summary["methods"].size(), 2u);
  EXPECT_TRUE(summary["methods"][0]["by_task_length"]["passkey"].contains("512"));
  EXPECT_NE(ReadTextFile(out + "/summary.md").find("| streaming |"), std::string::npos);
  // Fidelity: two windows of each length for every method.
  const auto fid = ReadJsonl(out + "/fidelity.jsonl");
  ASSERT_EQ(fid.size(), 2u * 2 * 2);  // lengths x windows x methods
  for (const auto& row : fid) {
    for (const char* k : {"method", "length", "tokens", "kl", "top1_agreement", "perplexity", "attended_fraction"}) {
      ASSERT_TRUE(row.contains(k)) << k;
    }
    if (row["method"] == "dense") EXPECT_EQ(row["kl"].get<double>(), 0.0);
  }
  ASSERT_EQ(summary["fidelity"].size(), 2u * 2);  // methods x lengths
  EXPECT_NE(ReadTextFile(out + "/summary.md").find("Fidelity to vanilla"), std::string::npos);
  for (const char* svg : {"heatmap-dense.svg", "heatmap-streaming.svg", "speed.svg", "accuracy-vs-attended.svg",
                          "kl-vs-attended.svg"}) {
    EXPECT_EQ(ReadTextFile(out + "/" + svg).rfind("<svg", 0), 0u) << svg;
  }
}

TEST(EvalCli, DumpThenTasksRoundTripAndBadJsonl) {
  test::TempDir dir;
  const std::string hay = Haystack(dir);
  auto r = test::RunCli({"eval", "-m", TinyModel(), "--task", "passkey,vt", "--lengths", "256", "--depths", "0.5",
                         "--haystack", hay, "--dump", dir.File("t.jsonl")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto tasks = ReadJsonl(dir.File("t.jsonl"));
  ASSERT_EQ(tasks.size(), 2u);
  // The answers are in the context (the generators' promise).
  EXPECT_NE(tasks[0]["context"].get<std::string>().find(tasks[0]["answers"][0].get<std::string>()), std::string::npos);
  r = test::RunCli({"eval", "-m", TinyModel(), "--tasks", dir.File("t.jsonl"), "--dump", dir.File("u.jsonl")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadTextFile(dir.File("t.jsonl")), ReadTextFile(dir.File("u.jsonl")));

  std::string text = ReadTextFile(dir.File("t.jsonl"));
  WriteTextFile(dir.File("bad.jsonl"), text + "{\"task\": \"passkey\", \"context\": 3}\n");
  r = test::RunCli({"eval", "-m", TinyModel(), "--tasks", dir.File("bad.jsonl"), "-o", dir.File("o")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bad.jsonl:3"), std::string::npos) << r.err;
  WriteTextFile(dir.File("bad2.jsonl"), "{not json\n");
  r = test::RunCli({"eval", "-m", TinyModel(), "--tasks", dir.File("bad2.jsonl"), "-o", dir.File("o")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bad2.jsonl:1: not JSON"), std::string::npos) << r.err;
  // An empty answer would match every prediction: refused by line and field, before any sample.
  nlohmann::json empty = tasks[1];
  empty["answers"] = nlohmann::json::array({""});
  WriteTextFile(dir.File("empty.jsonl"), tasks[0].dump() + "\n" + empty.dump() + "\n");
  // (No fidelity windows: they would need the default haystack folder, and this run must fail
  // for its answer alone.)
  r = test::RunCli({"eval", "-m", TinyModel(), "--tasks", dir.File("empty.jsonl"), "--fidelity-docs", "0", "-o",
                    dir.File("o")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("empty.jsonl:2: field 'answers' holds an empty string"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("o/results.jsonl")));
}

// Agreement with dense's answers, recomputed here from its definition: dense attention's greedy
// answer decoded step by step (the stop token a step of its own), the method's own greedy
// answer, and the method teacher-forced on dense's steps in a session of its own. A 16-token
// window over 256-token prompts moves a random model's answers (the path that decodes again);
// a window beyond the prompt is dense attention, bit for bit (the path that reuses the run).
TEST(EvalCli, AgreementWithDenseIsTeacherForcedOnDensesAnswer) {
  test::TempDir dir;
  const std::string hay = Haystack(dir), model_path = TinyModel();
  const std::vector<std::string> gen = {"-m", model_path, "--task", "passkey", "--lengths", "256,320", "--depths",
                                        "0,1", "--samples", "2", "--haystack", hay};
  std::vector<std::string> dump = {"eval"};
  dump.insert(dump.end(), gen.begin(), gen.end());
  dump.insert(dump.end(), {"--dump", dir.File("tasks.jsonl")});
  ASSERT_EQ(test::RunCli(dump).exit_code, 0);
  const auto records = ReadJsonl(dir.File("tasks.jsonl"));
  ASSERT_EQ(records.size(), 8u);
  auto model = Model::Load(model_path);
  auto tok = Tokenizer::Load(model_path);
  for (int window : {16, 1024}) {
    const std::string out = dir.File("report" + std::to_string(window));
    std::vector<std::string> args = {"eval"};
    args.insert(args.end(), gen.begin(), gen.end());
    args.insert(args.end(), {"--attn", "streaming,dense", "--window", std::to_string(window), "--sink", "4",
                             "--fidelity-docs", "0", "-o", out});
    const auto r = test::RunCli(args, 600);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto rows = ReadJsonl(out + "/results.jsonl");
    ASSERT_EQ(rows.size(), 16u);  // grouped by method in --attn's order, dense run first per sample
    SessionParams sp;
    sp.n_ctx = nlohmann::json::parse(ReadTextFile(out + "/config.json")).at("n_ctx");
    AttentionOptions a;
    a.method = AttentionMethod::kStreaming, a.window = window, a.sink = 4;
    const PolicySpec streaming(*model, a);
    int diverged = 0;
    double same_sum = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      const auto& rec = records[i];
      const nlohmann::json& srow = rows[i];
      const nlohmann::json& drow = rows[records.size() + i];
      ASSERT_EQ(srow["method"], "streaming");
      ASSERT_EQ(drow["method"], "dense");
      EXPECT_FALSE(drow.contains("agreement")) << "dense is the reference";
      ASSERT_TRUE(srow.contains("agreement")) << i;
      const std::vector<int32_t> prompt = tok->Tokenize(
          rec["context"].get<std::string>() + rec["question"].get<std::string>() + rec["answer_prefix"].get<std::string>(),
          true);
      const int max_new = rec["max_new_tokens"];
      // A greedy run: the chosen token of every step, and the answer's tokens.
      auto greedy = [&](AttentionPolicy* policy, std::vector<int32_t>& steps, std::vector<int32_t>& answer,
                        std::vector<std::vector<double>>& logp) {
        Session s(*model, sp, policy);
        s.Prefill(prompt);
        std::vector<float> logits = s.last_logits();
        for (int k = 0; k < max_new; ++k) {
          LogSoftmax(logits, logp.emplace_back());
          const int32_t t = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
          steps.push_back(t);
          if (tok->IsEndOfGeneration(t)) break;
          if (tok->TokenToPiece(t).find('\n') != std::string::npos && !answer.empty()) break;
          answer.push_back(t);
          if (k + 1 < max_new) logits = s.Decode(t);
        }
      };
      std::vector<int32_t> dsteps, danswer, ssteps, sanswer;
      std::vector<std::vector<double>> dlogp, slogp;
      greedy(nullptr, dsteps, danswer, dlogp);
      auto p1 = streaming.NewPolicy();
      greedy(p1.get(), ssteps, sanswer, slogp);
      EXPECT_EQ(drow["prediction"], tok->Detokenize(danswer)) << i;
      EXPECT_EQ(srow["prediction"], tok->Detokenize(sanswer)) << i;
      // Teacher-forced on dense's steps.
      auto p2 = streaming.NewPolicy();
      Session s(*model, sp, p2.get());
      s.Prefill(prompt);
      std::vector<float> logits = s.last_logits();
      double kl = 0, top1 = 0;
      for (size_t k = 0; k < dsteps.size(); ++k) {
        std::vector<double> q;
        LogSoftmax(logits, q);
        kl += KlOfLogProbs(dlogp[k], q);
        top1 += int32_t(std::max_element(q.begin(), q.end()) - q.begin()) == dsteps[k];
        if (k + 1 < dsteps.size()) logits = s.Decode(dsteps[k]);
      }
      const nlohmann::json& ag = srow["agreement"];
      EXPECT_EQ(ag["answer_steps"].get<size_t>(), dsteps.size()) << i;
      EXPECT_EQ(ag["same_answer"].get<bool>(), sanswer == danswer) << i;
      EXPECT_NEAR(ag["answer_kl"].get<double>(), kl / double(dsteps.size()), 1e-12) << i;
      EXPECT_DOUBLE_EQ(ag["answer_top1"].get<double>(), top1 / double(dsteps.size())) << i;
      if (window == 1024) {  // dense attention: the same answer, KL 0
        EXPECT_TRUE(ag["same_answer"].get<bool>()) << i;
        EXPECT_EQ(ag["answer_kl"].get<double>(), 0.0) << i;
        EXPECT_EQ(ag["answer_top1"].get<double>(), 1.0) << i;
      }
      diverged += ssteps != dsteps;
      same_sum += sanswer == danswer;
    }
    if (window == 16) EXPECT_GT(diverged, 0) << "no sample took the teacher-forced path";
    const nlohmann::json summary = nlohmann::json::parse(ReadTextFile(out + "/summary.json"));
    const auto& agreement = summary.at("agreement_with_dense");
    ASSERT_EQ(agreement.size(), 3u);  // streaming: passkey at 256 and at 320, and all
    EXPECT_EQ(agreement[2]["task"], "all");
    EXPECT_TRUE(agreement[2]["length"].is_null());
    EXPECT_EQ(agreement[2]["samples"], 8);
    EXPECT_DOUBLE_EQ(agreement[2]["same_answer"].get<double>(), same_sum / 8);
    EXPECT_NE(ReadTextFile(out + "/summary.md").find("Agreement with dense attention's answers"), std::string::npos);
  }
}

// A run that chose dense's steps is compared through its own logits (not dense's, not a second
// run): two different distributions with the same argmax give the KL computed here in long
// double, and top-1 1. Steps beyond kAgreementSteps are not scored.
TEST(AnswerAgreement, ARunOnDensesStepsIsComparedThroughItsOwnLogits) {
  auto model = Model::Load(TinyModel());
  AttentionOptions a;  // dense: unused on this path (nothing is decoded again)
  const PolicySpec spec(*model, a);
  GreedyAnswer dense, run;
  const int n = kAgreementSteps + 6, V = 5;
  for (int i = 0; i < n; ++i) {
    const int32_t t = i % V;
    dense.steps.push_back(t), run.steps.push_back(t);
    std::vector<float> d(V, 0.0f), r(V, 0.0f);
    d[size_t(t)] = 2.0f + 0.01f * float(i), r[size_t(t)] = 1.0f;
    r[size_t((t + 1) % V)] = 0.5f;
    if (i < kAgreementSteps) dense.logits.push_back(d), run.logits.push_back(r);
  }
  dense.tokens = run.tokens = dense.steps;
  const AnswerAgreement ag = AgreeWithDense(*model, SessionParams{}, spec, {1}, dense, run);
  EXPECT_TRUE(ag.same_answer);
  EXPECT_EQ(ag.steps, kAgreementSteps);
  EXPECT_EQ(ag.top1, 1.0);
  long double kl = 0;
  for (int i = 0; i < kAgreementSteps; ++i) {
    auto logp = [](const std::vector<float>& x) {
      long double z = 0;
      for (float v : x) z += std::exp((long double)v);
      std::vector<long double> out;
      for (float v : x) out.push_back((long double)v - std::log(z));
      return out;
    };
    const auto p = logp(dense.logits[size_t(i)]), q = logp(run.logits[size_t(i)]);
    for (int v = 0; v < V; ++v) kl += std::exp(p[size_t(v)]) * (p[size_t(v)] - q[size_t(v)]);
  }
  EXPECT_GT(double(kl), 0.01);
  EXPECT_NEAR(ag.kl, double(kl / kAgreementSteps), 1e-12);
  // Too few logits kept for the steps to score: refused, not read past the end.
  run.logits.pop_back();
  EXPECT_THROW(AgreeWithDense(*model, SessionParams{}, spec, {1}, dense, run), Error);
}

// With --adapters, the report carries the adapters' held-out metrics: one recall and mass per
// layer beside the k-most-recent reference, boundary F1, and a plot. A window longer than the
// model's context is refused before the long run.
// --prefill dense,sparse: each ChunkLLM method once per prefill mode on the same samples, the
// dense one named "<method>+dense-prefill" in every file (sparse is the default); at 1024 tokens (two micro-batches of 512)
// the second batch gathers fewer positions than its causal past, so its rows say so.
TEST(EvalCli, PrefillAxisRunsChunkMethodsDenseAndSparse) {
  InitLlamaBackend();
  test::TempDir dir;
  const std::string model = TinyModel(), adapters = dir.File("a.gguf");
  test::WriteRandomAdapters(model, adapters, test::SmallAdapterHp(32));
  const std::string out = dir.File("report"), hay = Haystack(dir);
  const auto r = test::RunCli({"eval", "-m", model, "--task", "passkey", "--lengths", "1024", "--depths", "0.5",
                               "--attn", "dense,chunkllm", "--adapters", adapters, "--prefill", "dense,sparse",
                               "--prefill-budget", "64", "--prefill-window", "64", "--prefill-dense-tail", "0",
                               "--adapter-windows", "0", "--fidelity-docs", "1", "--fidelity-lengths", "1024",
                               "--fidelity-tokens", "16", "--haystack", hay, "-o", out},
                              600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = ReadJsonl(out + "/results.jsonl");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["method"], "dense");
  EXPECT_EQ(rows[1]["method"], "chunkllm+dense-prefill");
  EXPECT_EQ(rows[2]["method"], "chunkllm");
  EXPECT_DOUBLE_EQ(rows[1]["prefill_attended_fraction"].get<double>(), 1.0);
  EXPECT_LT(rows[2]["prefill_attended_fraction"].get<double>(), 0.9);
  const auto fid = ReadJsonl(out + "/fidelity.jsonl");
  ASSERT_EQ(fid.size(), 3u);
  EXPECT_EQ(fid[1]["method"], "chunkllm+dense-prefill");
  EXPECT_EQ(fid[2]["method"], "chunkllm");
  const nlohmann::json config = nlohmann::json::parse(ReadTextFile(out + "/config.json"));
  EXPECT_EQ(config["attention"]["prefill_budget"], 64);
  EXPECT_EQ(config["attention"]["prefill"], nlohmann::json({"dense", "sparse"}));
  EXPECT_NE(ReadTextFile(out + "/summary.md").find("| chunkllm+dense-prefill |"), std::string::npos);
  EXPECT_EQ(ReadTextFile(out + "/heatmap-chunkllm+dense-prefill.svg").rfind("<svg", 0), 0u);
}

TEST(EvalCli, ReportsTheAdaptersHeldOutMetrics) {
  InitLlamaBackend();
  test::TempDir dir;
  const std::string model = TinyModel(), adapters = dir.File("a.gguf");
  test::WriteRandomAdapters(model, adapters, test::SmallAdapterHp(32));
  const std::string out = dir.File("report"), hay = Haystack(dir);
  auto r = test::RunCli({"eval", "-m", model, "--task", "passkey", "--lengths", "256", "--depths", "0.5", "--attn",
                         "chunkllm", "--adapters", adapters, "--topk", "2", "--adapter-windows", "2", "--adapter-seq",
                         "192", "--haystack", hay, "-o", out},
                        600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json a = nlohmann::json::parse(ReadTextFile(out + "/summary.json")).at("adapters");
  EXPECT_EQ(a.at("windows"), 2);
  EXPECT_EQ(a.at("seq"), 192);
  EXPECT_EQ(a.at("topk"), 2);
  for (const char* k : {"recall", "mass", "recency_recall", "recency_mass", "teacher_mass"}) {
    ASSERT_EQ(a.at(k).size(), 2u) << k;  // one per layer
    for (const auto& v : a.at(k)) {
      EXPECT_GE(v.get<double>(), 0.0) << k;
      EXPECT_LE(v.get<double>(), 1.0) << k;
    }
  }
  EXPECT_TRUE(a.contains("f1"));
  const std::string md = ReadTextFile(out + "/summary.md");
  EXPECT_NE(md.find("ChunkLLM adapters on held-out text"), std::string::npos);
  EXPECT_NE(md.find("teacher's own top 2: mass % |\n| --- |"), std::string::npos) << "the header, whole";
  EXPECT_NE(md.find("\n| 0 | "), std::string::npos) << "layer 0's row, on its own line";
  EXPECT_EQ(ReadTextFile(out + "/adapter-recall.svg").rfind("<svg", 0), 0u);

  r = test::RunCli({"eval", "-m", model, "--task", "passkey", "--lengths", "256", "--depths", "0.5", "--attn",
                    "chunkllm", "--adapters", adapters, "--adapter-seq", "100000", "--haystack", hay, "-o",
                    dir.File("o2")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--adapter-seq"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("o2/results.jsonl")));
}

}  // namespace
}  // namespace chunkllm
