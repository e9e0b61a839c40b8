// chunkllm-inference: the commands built from the inference layers alone (src/CMakeLists.txt),
// as a CHUNKLLM_TRAINING=OFF build installs them: it links no libtorch, runs, benches and
// evaluates as the full binary does, and refuses train and pretrain with a message.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "core/file_util.h"
#include "test_util.h"

namespace chunkllm {
namespace {

TEST(InferenceBuild, RunsBenchesAndEvaluatesWithoutLibtorch) {
  const auto ldd = test::RunCli({CHUNKLLM_INFERENCE_BIN}, 60, "/usr/bin/ldd");
  ASSERT_EQ(ldd.exit_code, 0) << ldd.err;
  EXPECT_EQ(ldd.out.find("torch"), std::string::npos) << ldd.out;
  const auto full = test::RunCli({CHUNKLLM_BIN}, 60, "/usr/bin/ldd");  // the check can fail: this one links it
  EXPECT_NE(full.out.find("torch"), std::string::npos) << full.out;

  RandomModelSpec spec;
  spec.vocab_path = test::VocabPath("llama-spm");
  spec.n_embd = 64, spec.n_layer = 2, spec.n_head = 4, spec.n_head_kv = 2, spec.n_ctx_train = 1024;
  const std::string model = test::FixtureModel("inference-build-tiny", spec);
  const std::vector<std::string> run = {"run", "-m", model, "-p", "Once upon a time", "-n", "8", "--temp", "0"};
  const auto a = test::RunCli(run, 120, CHUNKLLM_INFERENCE_BIN), b = test::RunCli(run);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out) << "the inference-only binary generates what the full one does";

  const auto bench = test::RunCli({"bench", "-m", model, "-p", "16", "-n", "4", "-r", "1", "-o", "json"}, 120,
                                  CHUNKLLM_INFERENCE_BIN);
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  EXPECT_NE(bench.out.find("\"tokens_per_s\""), std::string::npos) << bench.out;

  test::TempDir dir;
  std::filesystem::create_directories(dir.File("hay"));
  std::string prose;
  for (int i = 0; i < 60; ++i) prose += "The river rose after the rain, and the farmers moved their sheep uphill. ";
  WriteTextFile(dir.File("hay/prose.txt"), prose);
  const auto eval = test::RunCli({"eval", "-m", model, "--task", "passkey", "--lengths", "256", "--depths", "0.5",
                                  "--attn", "dense,streaming", "--window", "64", "--fidelity-docs", "0", "--haystack",
                                  dir.File("hay"), "-o", dir.File("report")},
                                 300, CHUNKLLM_INFERENCE_BIN);
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const std::string rows = ReadTextFile(dir.File("report/results.jsonl"));
  EXPECT_EQ(std::count(rows.begin(), rows.end(), '\n'), 2) << rows;  // one sample, two methods

  for (const char* command : {"train", "pretrain"}) {
    const auto r = test::RunCli({command, "-m", model, "-o", dir.File("x.gguf")}, 60, CHUNKLLM_INFERENCE_BIN);
    EXPECT_EQ(r.exit_code, 1) << command;
    EXPECT_NE(r.err.find("is not in this build"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.File("x.gguf")));
  }
}

}  // namespace
}  // namespace chunkllm
