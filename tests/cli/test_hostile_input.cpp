// Hostile input (issue 38) through the real binary: files whose counts, sizes and values are
// absurd, flags and task fields out of range, inputs without bound, and outputs that cannot be
// written. Each must end with a message naming what was wrong and where, a non-zero exit, no
// crash and no runaway memory or time, and no half-written or mixed output.
// The cases are BadInput.*, so ctest runs them again against chunkllm-asan (ASan + UBSan).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "cli/clean_failure.h"
#include "gguf_edit.h"
#include "test_util.h"

namespace chunkllm {
namespace {

RandomModelSpec SmallSpec() {
  RandomModelSpec s = test::SmallSpec();
  s.n_ctx_train = 1024;
  return s;
}

std::string SmallModel() { return test::FixtureModel("hostile-small", SmallSpec()); }

using test::RewriteGguf;
using test::ExpectCleanFailure;

// --- model files -------------------------------------------------------------------------

TEST(BadInput, BlockCountBeyondTheTensorTable) {
  test::TempDir dir;
  const std::string path = dir.File("layers.gguf");
  RewriteGguf(SmallModel(), path, {.kv = [](gguf_context* g) { gguf_set_val_u32(g, "llama.block_count", 1u << 30); }});
  ExpectCleanFailure({"run", "-m", path, "-p", "hi"}, "'llama.block_count' is 1073741824");
}

TEST(BadInput, MetadataHasFewerLayersThanTheTensors) {
  test::TempDir dir;
  const std::string path = dir.File("fewer.gguf");
  RewriteGguf(SmallModel(), path, {.kv = [](gguf_context* g) { gguf_set_val_u32(g, "llama.block_count", 1); }});
  ExpectCleanFailure({"run", "-m", path, "-p", "hi"}, "tensor 'blk.1.attn_norm.weight' belongs to layer 1");
}

TEST(BadInput, NonFiniteRopeBase) {
  test::TempDir dir;
  const std::string path = dir.File("rope.gguf");
  RewriteGguf(SmallModel(), path, {.kv = [](gguf_context* g) {
                gguf_set_val_f32(g, "llama.rope.freq_base", std::numeric_limits<float>::infinity());
              }});
  ExpectCleanFailure({"run", "-m", path, "-p", "hi"}, "'llama.rope.freq_base' must be a finite number");
}

TEST(BadInput, NanWeights) {
  test::TempDir dir;
  const std::string path = dir.File("nan.gguf");
  RewriteGguf(SmallModel(), path, {.tensor = [](ggml_tensor* t, ggml_context*) {
                if (std::string(t->name) == "blk.1.ffn_down.weight") static_cast<ggml_fp16_t*>(t->data)[17] = ggml_fp32_to_fp16(NAN);
                return t;
              }});
  ExpectCleanFailure({"run", "-m", path, "-p", "hi", "-n", "4"}, "tensor 'blk.1.ffn_down.weight' holds a non-finite value");
}

// --- runaway sizes from flags ------------------------------------------------------------

TEST(BadInput, MkModelBeyondMemory) {
  test::TempDir dir;
  const std::string out = dir.File("big.gguf");
  ExpectCleanFailure({"mkmodel", "--vocab", test::VocabPath("llama-spm"), "--n-layer", "1000000", "-o", out},
                     "more than this machine's", 30);
  // 8/3 of this width overflows an int: the default FFN size is computed in 64 bits.
  ExpectCleanFailure({"mkmodel", "--vocab", test::VocabPath("llama-spm"), "--n-embd", "1000000000", "--n-head", "8",
                      "-o", out},
                     "--n-ff (default: 8/3 of --n-embd) must be in [1, 2^30], got 2666666688", 30);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(BadInput, EvalLengthBeyondTheModelsContext) {
  test::TempDir dir;
  std::string prose;
  for (int i = 0; i < 50; ++i) prose += "The harbour was quiet that morning. Gulls circled above the nets. ";
  WriteTextFile(dir.File("prose.txt"), prose);
  // Checked before a haystack is built for it (a 100M-token one took minutes and gigabytes).
  ExpectCleanFailure({"eval", "-m", SmallModel(), "--lengths", "99999999", "--haystack", dir.path(), "-o", dir.File("r")},
                     "--lengths 99999999 is outside [1, 1024]", 30);
  ExpectCleanFailure({"eval", "-m", SmallModel(), "--lengths", "-5", "--haystack", dir.path(), "-o", dir.File("r")},
                     "--lengths -5 is outside", 30);
  EXPECT_FALSE(std::filesystem::exists(dir.File("r")));
}

TEST(BadInput, PromptFileWithoutEnd) {
  ExpectCleanFailure({"run", "-m", SmallModel(), "-f", "/dev/zero"}, "/dev/zero: not a text file (NUL byte at offset 0)",
                     30);
}

TEST(BadInput, PromptFileLongerThanTheContextCanHold) {
  test::TempDir dir;
  std::string text;
  while (text.size() < (10u << 20)) text += "the quick brown fox jumps over the lazy dog. ";
  WriteTextFile(dir.File("big.txt"), text);
  // Refused by its size against -c before it is tokenized (the message says how it bounds it).
  ExpectCleanFailure({"run", "-m", SmallModel(), "-c", "512", "-f", dir.File("big.txt")},
                     "the most -c 512 tokens can hold", 30);
}

// Found by fuzzing: a BPE vocabulary's tokenizer (libllama) threw out of llama_tokenize, ending
// the process, on a 4-byte UTF-8 sequence above U+10FFFF.
TEST(BadInput, PromptWithACodePointBeyondUnicode) {
  RandomModelSpec spec = SmallSpec();
  spec.vocab_path = test::VocabPath("llama-bpe");
  spec.n_embd = 32, spec.n_head = 2, spec.n_head_kv = 1, spec.n_ff = 64, spec.tied_output = true;
  const std::string model = test::FixtureModel("hostile-bpe", spec);
  ExpectCleanFailure({"run", "-m", model, "-p", "abc \xf7\xbf\xbf\xbf def", "-n", "1"},
                     "invalid UTF-8 sequence at byte 4: it encodes U+1FFFFF");
}

TEST(BadInput, ContextSizeOverflow) {
  ExpectCleanFailure({"run", "-m", SmallModel(), "-p", "hi", "-c", "2147483647"}, "context size (-c) must be in [1, ");
  ExpectCleanFailure({"run", "-m", SmallModel(), "-p", "hi", "-c", "1073741824"}, "more than this machine's");
}

TEST(BadInput, SamplerFlagsOutOfRange) {
  const std::string m = SmallModel();
  ExpectCleanFailure({"run", "-m", m, "-p", "hi", "-n", "2", "--top-p", "2"}, "--top-p must be in (0, 1], got 2");
  ExpectCleanFailure({"run", "-m", m, "-p", "hi", "-n", "2", "--temp", "nan"}, "--temp must be a finite number");
}

// --- task files ----------------------------------------------------------------------------

TEST(BadInput, TaskFieldsOutOfRange) {
  test::TempDir dir;
  const nlohmann::json good = {{"task", "passkey"}, {"context", "The pass key is 123. "}, {"question", "Key?"},
                               {"answer_prefix", " The pass key is"}, {"answers", {"123"}}, {"max_new_tokens", 4},
                               {"length", 16}, {"depth", 0.5}, {"seed", 7}};
  const std::pair<const char*, nlohmann::json> cases[] = {
      {"max_new_tokens", 4294967297ull}, {"length", -5}, {"seed", -1}, {"depth", 1.5}, {"max_new_tokens", 0}};
  for (const auto& [field, value] : cases) {
    nlohmann::json bad = good;
    bad[field] = value;
    SCOPED_TRACE(bad.dump());
    WriteTextFile(dir.File("t.jsonl"), good.dump() + "\n" + bad.dump() + "\n");
    ExpectCleanFailure({"eval", "-m", SmallModel(), "--tasks", dir.File("t.jsonl"), "--fidelity-docs", "0", "-o",
                        dir.File("r")},
                       std::string("t.jsonl:2: field '") + field + "' must be");
  }
  EXPECT_FALSE(std::filesystem::exists(dir.File("r")));
}

// --- outputs -------------------------------------------------------------------------------

TEST(BadInput, TrainRefusesAnUnwritableOutputBeforeTraining) {
  test::TempDir dir;
  WriteTextFile(dir.File("a-file"), "not a folder");
  std::filesystem::create_directories(dir.File("text"));
  std::string text;
  for (int i = 0; i < 200; ++i) text += "The harbour was quiet that morning. Gulls circled above the nets. ";
  WriteTextFile(dir.File("text/doc.txt"), text);
  // A path under a regular file cannot be created (whoever runs the test, root included). The
  // run would take minutes: it must stop at once, not after its steps.
  const test::CliResult r =
      test::RunCli({"train", "-m", SmallModel(), "--data", dir.File("text"), "--val", dir.File("text"), "--seq", "64",
                    "--steps", "100000", "-o", dir.File("a-file/adapters.gguf")},
                   60);
  ExpectCleanFailure(r, "a-file/adapters.gguf: cannot write there");
  EXPECT_EQ(r.err.find("Exception raised"), std::string::npos) << r.err;  // no libtorch stack trace
}

TEST(BadInput, PretrainRefusesAnUnwritableOutputBeforeTraining) {
  test::TempDir dir;
  WriteTextFile(dir.File("a-file"), "not a folder");
  std::filesystem::create_directories(dir.File("text"));
  std::string text;
  for (int i = 0; i < 200; ++i) text += "The harbour was quiet that morning. Gulls circled above the nets. ";
  WriteTextFile(dir.File("text/doc.txt"), text);
  // A budget of hours: the run must stop at once, not after its steps (nor at its first
  // checkpoint, minutes in, for an unwritable --checkpoint).
  const std::vector<std::string> args = {"pretrain", "--vocab", test::VocabPath("llama-spm"), "--data", dir.File("text"),
                                         "--val", dir.File("text"), "--n-embd", "32", "--n-layer", "1", "--n-head", "2",
                                         "--n-head-kv", "1", "--head-dim", "16", "--n-ff", "64", "--ctx-train", "128",
                                         "--schedule", "64x1:1", "--tokens", "1000000000", "--no-bf16"};
  std::vector<std::string> to_file = args, ckpt_to_file = args;
  to_file.insert(to_file.end(), {"-o", dir.File("a-file/backbone.gguf")});
  ckpt_to_file.insert(ckpt_to_file.end(), {"-o", dir.File("backbone.gguf"), "--checkpoint", dir.File("a-file/b.ckpt")});
  ExpectCleanFailure(test::RunCli(to_file, 60), "a-file/backbone.gguf: cannot write there");
  ExpectCleanFailure(test::RunCli(ckpt_to_file, 60), "a-file/b.ckpt: cannot write there");
  EXPECT_FALSE(std::filesystem::exists(dir.File("backbone.gguf")));
}

std::string TinyTasks(const test::TempDir& dir) {
  const nlohmann::json t = {{"task", "passkey"}, {"context", "The pass key is 123. "}, {"question", "Key?"},
                            {"answer_prefix", " The pass key is"}, {"answers", {"123"}}, {"max_new_tokens", 2}};
  WriteTextFile(dir.File("tasks.jsonl"), t.dump() + "\n");
  return dir.File("tasks.jsonl");
}

TEST(BadInput, FailedEvalLeavesNoReportFolder) {
  test::TempDir dir;
  // The tasks run, then the fidelity text is missing: the run fails after its first outputs.
  const test::CliResult r =
      test::RunCli({"eval", "-m", SmallModel(), "--tasks", TinyTasks(dir), "--fidelity-docs", "1", "--fidelity-lengths",
                    "64", "--fidelity-text", dir.File("no-such-text"), "-o", dir.File("report")});
  ExpectCleanFailure(r, "no-such-text");
  EXPECT_FALSE(std::filesystem::exists(dir.File("report"))) << "a half report folder was left behind";
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
}

TEST(BadInput, EvalReplacesAnOldReportWholeAndRefusesOtherFolders) {
  test::TempDir dir;
  const std::string report = dir.File("report"), tasks = TinyTasks(dir);
  std::filesystem::create_directories(report);
  WriteTextFile(report + "/heatmap-streaming.svg", "<svg>old</svg>");
  WriteTextFile(report + "/config.json", "{}");
  test::CliResult r = test::RunCli({"eval", "-m", SmallModel(), "--tasks", tasks, "--fidelity-docs", "0", "-o", report});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(report + "/heatmap-streaming.svg")) << "old plots mixed with the new report";
  EXPECT_TRUE(std::filesystem::exists(report + "/heatmap-dense.svg"));
  EXPECT_NE(ReadTextFile(report + "/config.json"), "{}");
  // A folder holding something that is not a report is not replaced, and is refused up front.
  WriteTextFile(report + "/notes.txt", "mine");
  r = test::RunCli({"eval", "-m", SmallModel(), "--tasks", tasks, "--fidelity-docs", "0", "-o", report});
  ExpectCleanFailure(r, "holds 'notes.txt'");
  EXPECT_EQ(ReadTextFile(report + "/notes.txt"), "mine");
}

}  // namespace
}  // namespace chunkllm
