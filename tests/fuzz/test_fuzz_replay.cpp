// The fuzz targets' seed corpus and every input a fuzzer once crashed on, replayed through the
// same targets (fuzz_targets.h) in the normal build. Fuzz runs are not tests (scripts/fuzz.sh);
// this is: each file must end in a clean refusal or a good run, never a crash or another
// exception. Under ASan the regressions also run through the binary (test_hostile_input.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "core/file_util.h"
#include "fuzz/fuzz_targets.h"

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
    SCOPED_TRACE(f);
    const std::string bytes = ReadTextFile(f);
    EXPECT_NO_THROW(t.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay, testing::ValuesIn(fuzz::Targets()),
                         [](const testing::TestParamInfo<fuzz::Target>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace chunkllm
