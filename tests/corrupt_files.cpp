#include "corrupt_files.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "core/file_util.h"
#include "test_util.h"

namespace chunkllm::test {
namespace {

std::string Joined(const std::vector<std::string>& args) {
  std::string s;
  for (const std::string& a : args) s += a + " ";
  return s;
}

// The peak RSS of the intact file's run, once per command.
long IntactRssKb(const std::vector<std::string>& args) {
  static std::map<std::string, long> kb;
  const std::string key = Joined(args);
  auto it = kb.find(key);
  if (it != kb.end()) return it->second;
  const CliResult r = RunCli(args, 60);
  EXPECT_EQ(r.exit_code, 0) << "the intact file is refused: " << key << "\n" << r.err;
  return kb[key] = r.max_rss_kb;
}

}  // namespace

CorruptCase Rewritten(const std::string& name, const GgufEdits& edits, const std::string& needle) {
  return {name,
          [edits](const std::string& bytes, const GgufLayout&) {
            TempDir dir;
            WriteTextFile(dir.File("in.gguf"), bytes);
            RewriteGguf(dir.File("in.gguf"), dir.File("out.gguf"), edits);
            return ReadTextFile(dir.File("out.gguf"));
          },
          needle};
}

CorruptCase CutAt(const std::string& name, std::function<size_t(const GgufLayout&)> at, const std::string& needle) {
  return {name,
          [at](const std::string& bytes, const GgufLayout& l) {
            return bytes.substr(0, std::min(at(l), bytes.size() - 1));
          },
          needle};
}

void ExpectCorruptFilesRefused(const std::string& intact,
                               const std::function<std::vector<std::string>(const std::string& path)>& command,
                               const std::vector<CorruptCase>& cases) {
  TempDir dir;
  const std::string original = ReadTextFile(intact);
  const GgufLayout layout = WalkGguf(original);
  const long intact_kb = IntactRssKb(command(intact));
  const char* bin = std::getenv("CHUNKLLM_BIN");
  const bool sanitized = bin && std::string(bin).find("asan") != std::string::npos;
  for (const CorruptCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.File(c.name + ".gguf");
    const std::string bytes = c.corrupt(original, layout);
    ASSERT_NE(bytes, original) << "the case changes nothing";
    WriteTextFile(path, bytes);
    const CliResult r = RunCli(command(path), 60);
    EXPECT_EQ(r.signal, 0) << r.err;
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(r.err.find("AddressSanitizer"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("runtime error"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << "the message does not name the file:\n" << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << "no '" << c.needle << "' in:\n" << r.err;
    if (!sanitized) {
      EXPECT_LE(r.max_rss_kb, intact_kb + intact_kb / 2 + 16 * 1024)
          << "peak RSS " << r.max_rss_kb << " kB, intact file " << intact_kb << " kB";
    }
  }
}

}  // namespace chunkllm::test
