// File helpers: atomic writes (temp name + rename) so no output is ever half-written.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace chunkllm {

// Calls write(tmp_path) with a temporary path next to `path`, then renames it onto `path`.
// If write throws, the temporary file is removed and the exception propagates.
void WriteFileAtomically(const std::string& path, const std::function<void(const std::string&)>& write);

// Writes text to path atomically.
void WriteTextFile(const std::string& path, const std::string& text);

// Reads a whole text file; throws Error naming the path when it cannot.
std::string ReadTextFile(const std::string& path);

// Reads a document for training or evaluation: throws Error naming the path if it is empty
// or binary (a NUL byte, with its offset).
std::string ReadTextDocument(const std::string& path);

// A bound on how much text a command may read, with the reason shown when it is exceeded
// ("-c 4096 tokens of at most 16 bytes each").
struct TextLimit {
  uint64_t max_bytes = UINT64_MAX;
  std::string reason;
};

// As ReadTextDocument, but reads at most limit.max_bytes + 1 bytes of any file (a pipe, a
// device such as /dev/zero, a 10 GB file) and throws Error naming the path and the limit when
// there is more: memory never grows past the limit.
std::string ReadTextDocument(const std::string& path, const TextLimit& limit);

// The text of a command's `-p TEXT` / `-f FILE` pair: the text if given, else the file's
// (read by ReadTextDocument within `limit`); throws Error saying so if neither gives any, or if
// the text is longer than the limit. `what` names it in the message ("the prompt", "the text").
std::string TextFromFlags(const std::string& text, const std::string& file, const std::string& what,
                          const TextLimit& limit = {});

// For commands that write their outputs only at the end of a long run: throws Error naming
// `path` now, unless a file can be created next to it (its folder exists and is writable).
void CheckWritableOutput(const std::string& path);

// A folder of outputs written as one (a report): the outputs go into a fresh temporary folder
// next to `path` (path()), and Commit() puts it in place of `path`. Destroyed without Commit()
// (an error on the way), the temporary folder is removed and `path` is left as it was. An
// existing `path` is replaced only when it is empty or every entry in it satisfies
// `replaceable` (an earlier output of the same kind), so old files never mix with new ones and
// a foreign folder is never deleted: the constructor throws Error naming the first other entry,
// so create it before the work that produces the outputs.
class StagedFolder {
 public:
  StagedFolder(const std::string& path, const std::function<bool(const std::string& name)>& replaceable);
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;
  const std::string& path() const { return tmp_; }
  void Commit();

 private:
  std::string path_, tmp_;
  bool committed_ = false;
};

// Expands files and directories into a sorted list of .txt files; throws Error naming a path
// that does not exist, or if there is no .txt file at all.
std::vector<std::string> ListTextFiles(const std::vector<std::string>& paths);

// Training must never read a test set: throws Error naming the path if a file or directory in
// `paths` lies in a folder whose manifest.json declares it held out ("purpose" starting with
// "held-out", as scripts/fetch-heldout-text.sh writes). `use` names what was refused ("train on").
void RefuseHeldOutText(const std::vector<std::string>& paths, const std::string& use);

// Size of a file in bytes; throws Error if it does not exist or is not a regular file.
uint64_t FileSize(const std::string& path);

}  // namespace chunkllm
