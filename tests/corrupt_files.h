// The check of the corrupt-file suites (model GGUFs: tests/model/test_corrupt_gguf.cpp, adapter
// GGUFs: tests/chunk/test_corrupt_adapter.cpp): files broken by hand from an intact one, each
// given to the real binary, which must refuse it cleanly, say where and what, and not need more
// memory than the intact file's run did.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "gguf_edit.h"

namespace chunkllm::test {

struct CorruptCase {
  std::string name;
  // The broken file's bytes, from the intact file's bytes and layout.
  std::function<std::string(const std::string& bytes, const GgufLayout& layout)> corrupt;
  std::string needle;  // what the message must hold besides the file's path
};

// A case made by RewriteGguf (through ggml's writer: edits that keep the file well-formed).
CorruptCase Rewritten(const std::string& name, const GgufEdits& edits, const std::string& needle);

// The intact file truncated to `at(layout)` bytes (at most one byte short of it).
CorruptCase CutAt(const std::string& name, std::function<size_t(const GgufLayout&)> at, const std::string& needle);

// For each case: writes the broken file, runs `command(path)` (the CLI arguments that load a
// file at path) and expects exit 1 without a signal or a sanitizer report, a message naming
// the path and holding the case's needle, and (release binary only: the sanitizer build's
// memory is not comparable) a peak RSS within 1.5 x + 16 MB of the intact file's run, which
// must succeed. A reader that allocates what the file's numbers ask for before checking them
// fails the memory check; a runaway one the minute's timeout.
void ExpectCorruptFilesRefused(const std::string& intact,
                               const std::function<std::vector<std::string>(const std::string& path)>& command,
                               const std::vector<CorruptCase>& cases);

}  // namespace chunkllm::test
