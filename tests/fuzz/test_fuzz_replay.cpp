// The fuzz targets' seed corpus and every input a fuzzer once crashed on, replayed through the
// same targets (fuzz_targets.h) in the normal build. Fuzz runs are not tests (scripts/fuzz.sh);
// this is: each file must end in a clean refusal or a good run, never a crash or another
// exception; a regression with a FILE.expect beside it must be refused with that message. The
// regressions also run through the binary (BadInput.FuzzRegressions), so ctest's ASan pass
// replays them under the sanitizers.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "core/file_util.h"
#include "fuzz/fuzz_targets.h"
#include "test_util.h"

namespace chunkllm {
namespace {

std::vector<std::string> FilesOf(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class FuzzReplay : public testing::TestWithParam<fuzz::Target> {};

TEST_P(FuzzReplay, CorpusAndRegressions) {
  const fuzz::Target& t = GetParam();
  const std::string root = CHUNKLLM_FUZZ_DIR;
  const std::vector<std::string> seeds = FilesOf(root + "/corpus/" + t.name);
  EXPECT_FALSE(seeds.empty()) << "no seed corpus in " << root << "/corpus/" << t.name;
  std::vector<std::string> files = seeds;
  for (const std::string& f : FilesOf(root + "/regressions/" + t.name)) files.push_back(f);
  for (const std::string& f : files) {
    if (f.size() > 7 && f.compare(f.size() - 7, 7, ".expect") == 0) continue;
    SCOPED_TRACE(f);
    const std::string bytes = ReadTextFile(f);
    std::string message;
    EXPECT_NO_THROW(message = t.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    // A regression may say how it must be refused (FILE.expect: a part of the message), so the
    // replay fails without the fix even where no sanitizer watches.
    std::error_code ec;
    if (std::filesystem::exists(f + ".expect", ec)) {
      std::string want = ReadTextFile(f + ".expect");
      while (!want.empty() && want.back() == '\n') want.pop_back();
      EXPECT_NE(message.find(want), std::string::npos) << "refused with: '" << message << "', expected '" << want << "'";
    }
  }
}

// The regressions through the real binary, by the command that reads each kind of input: ctest
// runs BadInput.* again against chunkllm-asan, where a sanitizer report fails the case.
TEST(BadInput, FuzzRegressions) {
  const std::string root = std::string(CHUNKLLM_FUZZ_DIR) + "/regressions/";
  test::TempDir dir;
  auto check = [](const test::CliResult& r, const std::string& f) {
    EXPECT_EQ(r.signal, 0) << f << "\n" << r.err;
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << f << "\n" << r.err;
    EXPECT_EQ(r.err.find("Sanitizer"), std::string::npos) << f << "\n" << r.err;
    EXPECT_EQ(r.err.find("runtime error"), std::string::npos) << f << "\n" << r.err;
  };
  for (const std::string& f : FilesOf(root + "model_gguf")) {
    if (f.find(".expect") == std::string::npos) check(test::RunCli({"run", "-m", f, "-p", "Hello", "-n", "1", "-c", "16"}), f);
  }
  for (const std::string& f : FilesOf(root + "adapter_gguf")) {
    if (f.find(".expect") != std::string::npos) continue;
    check(test::RunCli({"run", "-m", fuzz::TinyModelPath(), "--attn", "chunkllm", "--adapters", f, "-p", "Hello", "-n",
                        "1", "-c", "64"}),
          f);
  }
  for (const std::string& f : FilesOf(root + "task_jsonl")) {
    if (f.find(".expect") != std::string::npos) continue;
    check(test::RunCli({"eval", "-m", fuzz::TinyModelPath(), "--tasks", f, "--fidelity-docs", "0", "-o", dir.File("r")}),
          f);
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay, testing::ValuesIn(fuzz::Targets()),
                         [](const testing::TestParamInfo<fuzz::Target>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace chunkllm
