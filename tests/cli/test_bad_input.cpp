// Bad input through the real binary: each case must end with a clear message on stderr and a
// non-zero exit, never a crash (signal), a hang, or a half-written output file.
// ctest runs this suite twice: against `chunkllm` and against `chunkllm-asan` (ASan + UBSan).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/file_util.h"
#include "gguf.h"
#include "cli/clean_failure.h"
#include "gguf_edit.h"
#include "test_util.h"

namespace chunkllm {
namespace {

std::string SmallModel() { return test::FixtureModel("bad-input-small", test::SmallSpec()); }

void CopyPrefix(const std::string& src, const std::string& dst, size_t n) {
  std::ifstream in(src, std::ios::binary);
  std::string bytes(n, '\0');
  in.read(bytes.data(), std::streamsize(n));
  std::ofstream(dst, std::ios::binary).write(bytes.data(), std::streamsize(in.gcount()));
}

using test::ExpectCleanFailure;

TEST(BadInput, TruncatedFile) {
  test::TempDir dir;
  const std::string path = dir.File("truncated.gguf");
  CopyPrefix(SmallModel(), path, FileSize(SmallModel()) / 2);
  ExpectCleanFailure({"run", "-m", path, "-p", "hi"}, "truncated");
  ExpectCleanFailure({"inspect", path}, "truncated");
}

TEST(BadInput, TruncatedHeader) {
  test::TempDir dir;
  const std::string path = dir.File("header.gguf");
  CopyPrefix(SmallModel(), path, 100);  // cut inside the metadata
  ExpectCleanFailure({"run", "-m", path, "-p", "hi"}, "corrupt GGUF");
}

TEST(BadInput, CorruptMetadata) {
  test::TempDir dir;
  const std::string path = dir.File("corrupt.gguf");
  std::string bytes = ReadTextFile(SmallModel());
  // Bytes 8..15 hold the tensor count; an absurd count must be refused, not allocated.
  for (int i = 8; i < 16; ++i) bytes[size_t(i)] = char(0x7f);
  WriteTextFile(path, bytes);
  ExpectCleanFailure({"run", "-m", path, "-p", "hi"}, "corrupt GGUF");
}

TEST(BadInput, WrongMagic) {
  test::TempDir dir;
  const std::string path = dir.File("magic.gguf");
  std::string bytes = ReadTextFile(SmallModel());
  bytes.replace(0, 4, "GGML");
  WriteTextFile(path, bytes);
  ExpectCleanFailure({"run", "-m", path, "-p", "hi"}, "magic at offset 0 is 'GGML'");
}

TEST(BadInput, MissingTensor) {
  test::TempDir dir;
  const std::string path = dir.File("missing.gguf");
  test::GgufEdits drop;
  drop.tensor = [](ggml_tensor* t, ggml_context*) { return std::string(t->name) == "blk.1.ffn_up.weight" ? nullptr : t; };
  test::RewriteGguf(SmallModel(), path, drop);
  ExpectCleanFailure({"run", "-m", path, "-p", "hi"}, "missing tensor 'blk.1.ffn_up.weight'");
}

TEST(BadInput, WrongShape) {
  test::TempDir dir;
  const std::string path = dir.File("shape.gguf");
  test::RewriteGguf(SmallModel(), path, test::ReplaceTensor("blk.0.attn_q.weight", GGML_TYPE_F16, {64, 32}));
  ExpectCleanFailure({"run", "-m", path, "-p", "hi"}, "tensor 'blk.0.attn_q.weight' has shape [64, 32], expected [64, 64]");
}

TEST(BadInput, UnknownArchitecture) {
  test::TempDir dir;
  const std::string path = dir.File("arch.gguf");
  test::RewriteGguf(SmallModel(), path, {.kv = [](gguf_context* g) { gguf_set_val_str(g, "general.architecture", "gpt2"); }});
  ExpectCleanFailure({"run", "-m", path, "-p", "hi"}, "unsupported architecture 'gpt2'");
  ExpectCleanFailure({"bench", "-m", path, "-r", "1"}, "unsupported architecture 'gpt2'");
}

TEST(BadInput, PromptLongerThanContext) {
  ExpectCleanFailure({"run", "-m", SmallModel(), "-c", "8", "-p", "one two three four five six seven eight nine ten"},
                     "but the context holds 8");
}

TEST(BadInput, InvalidFlags) {
  const std::string m = SmallModel();
  ExpectCleanFailure({"run", "-m", m, "-p", "hi", "-t", "0"}, "--threads");
  ExpectCleanFailure({"run", "-m", m, "-p", "hi", "--bogus"}, "--bogus");
  ExpectCleanFailure({"run", "-m", m, "-p", "hi", "-n", "abc"}, "abc");
  ExpectCleanFailure({"run", "-m", m}, "-p TEXT or -f FILE");
  ExpectCleanFailure({"run", "-m", m, "-p", "hi", "--cache-type", "q3"}, "invalid KV cache type 'q3'");
  ExpectCleanFailure({"run", "-m", m, "-p", "hi", "--top-p", "0"}, "--top-p");
  ExpectCleanFailure({"run", "-m", "/nonexistent/model.gguf", "-p", "hi"}, "/nonexistent/model.gguf");
  ExpectCleanFailure({"bench", "-m", m, "-o", "xml"}, "xml");
  ExpectCleanFailure({"bench", "-m", m, "-d", "-5", "-r", "1"}, "-d values must be >= 0");
  ExpectCleanFailure({"nosuchcommand"}, "unknown command 'nosuchcommand'");
  ExpectCleanFailure({"mkmodel", "--vocab", test::VocabPath("llama-spm"), "--type", "q9_9", "-o", "/tmp/x.gguf"},
                     "unknown ggml type 'q9_9'");
}

TEST(BadInput, FailedWriteLeavesNoFile) {
  test::TempDir dir;
  const std::string out = dir.File("model.gguf");
  // q4_K needs rows that are multiples of 256: refused before anything is written.
  ExpectCleanFailure({"mkmodel", "--vocab", test::VocabPath("llama-spm"), "--n-embd", "64", "--n-head", "4",
                      "--type", "q4_K", "-o", out},
                     "multiple of 256");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << "a partial output file was left behind";
  // A vocab file that is not GGUF.
  const std::string bad_vocab = dir.File("vocab.txt");
  WriteTextFile(bad_vocab, "hello");
  ExpectCleanFailure({"mkmodel", "--vocab", bad_vocab, "-o", out}, "not a GGUF file");
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(BadInput, GoodInputStillWorks) {
  // The control case: the same binary and model succeed with valid flags.
  const test::CliResult r = test::RunCli({"run", "-m", SmallModel(), "-p", "Hello", "-n", "4", "--temp", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Hello"), std::string::npos);
  EXPECT_NE(r.err.find("tok/s"), std::string::npos);
}

}  // namespace
}  // namespace chunkllm
