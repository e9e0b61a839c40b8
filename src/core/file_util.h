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

// The text of a command's `-p TEXT` / `-f FILE` pair: the text if given, else the file's
// (read by ReadTextDocument); throws Error saying so if neither gives any. `what` names it
// in the message ("the prompt", "the text").
std::string TextFromFlags(const std::string& text, const std::string& file, const std::string& what);

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
