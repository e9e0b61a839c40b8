// Bad input through the real binary: each case must end with a clear message on stderr and a
// non-zero exit, never a crash (signal), a hang, or a half-written output file.
// ctest runs this suite twice: against `chunkllm` and against `chunkllm-asan` (ASan + UBSan).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/file_util.h"
#include "gguf.h"
#include "cli/clean_failure.h"
#include "test_util.h"

namespace chunkllm {
namespace {

std::string SmallModel() { return test::FixtureModel("bad-input-small", test::SmallSpec()); }

// Copies a GGUF file with one edit: drop a tensor, change a tensor's shape, or set the arch.
struct Edit {
  std::string drop_tensor;
  std::string reshape_tensor;  // its second dimension is halved
  std::string set_arch;
};

void RewriteGguf(const std::string& src, const std::string& dst, const Edit& e) {
  ggml_context* data = nullptr;
  gguf_init_params ip = {false, &data};
  gguf_context* in = gguf_init_from_file(src.c_str(), ip);
  ASSERT_NE(in, nullptr);
  gguf_context* out = gguf_init_empty();
  gguf_set_kv(out, in);
  if (!e.set_arch.empty()) gguf_set_val_str(out, "general.architecture", e.set_arch.c_str());
  ggml_init_params extra_params = {ggml_tensor_overhead() * 4 + (64 << 20), nullptr, false};
  ggml_context* extra = ggml_init(extra_params);
  for (int64_t i = 0; i < gguf_get_n_tensors(in); ++i) {
    const std::string name = gguf_get_tensor_name(in, i);
    ggml_tensor* t = ggml_get_tensor(data, name.c_str());
    if (name == e.drop_tensor) continue;
    if (name == e.reshape_tensor) {
      ggml_tensor* r = ggml_new_tensor_2d(extra, t->type, t->ne[0], t->ne[1] / 2);
      ggml_set_name(r, name.c_str());
      std::memcpy(r->data, t->data, ggml_nbytes(r));
      t = r;
    }
    gguf_add_tensor(out, t);
  }
  ASSERT_TRUE(gguf_write_to_file(out, dst.c_str(), false));
  gguf_free(out);
  gguf_free(in);
  ggml_free(data);
  ggml_free(extra);
}

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
  RewriteGguf(SmallModel(), path, {.drop_tensor = "blk.1.ffn_up.weight"});
  ExpectCleanFailure({"run", "-m", path, "-p", "hi"}, "missing tensor 'blk.1.ffn_up.weight'");
}

TEST(BadInput, WrongShape) {
  test::TempDir dir;
  const std::string path = dir.File("shape.gguf");
  RewriteGguf(SmallModel(), path, {.reshape_tensor = "blk.0.attn_q.weight"});
  ExpectCleanFailure({"run", "-m", path, "-p", "hi"}, "tensor 'blk.0.attn_q.weight' has shape [64, 32], expected [64, 64]");
}

TEST(BadInput, UnknownArchitecture) {
  test::TempDir dir;
  const std::string path = dir.File("arch.gguf");
  RewriteGguf(SmallModel(), path, {.set_arch = "gpt2"});
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
