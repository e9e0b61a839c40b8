// Helpers shared by the tests: temp dirs, fixture models made at test time, running the CLI.
#pragma once

#include <string>
#include <vector>

#include "model/random_model.h"

namespace chunkllm::test {

// A directory under /tmp removed (recursively) when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Path of llama.cpp's models/ggml-vocab-NAME.gguf (NAME: llama-spm, llama-bpe, qwen2, ...).
std::string VocabPath(const std::string& name);

// The small random model the CLI and bad-input tests share: 64 wide, 2 layers, 4 heads on 2 KV
// heads, FFN 128, the given architecture and vocabulary.
RandomModelSpec SmallSpec(Arch arch = Arch::kLlama, const std::string& vocab = "llama-spm");

// A random-weight model written once per test process for (spec, key) and reused.
// key must identify the spec uniquely (e.g. "qwen2-small").
std::string FixtureModel(const std::string& key, const RandomModelSpec& spec);

struct CliResult {
  int exit_code = -1;   // -1: killed by a signal
  int signal = 0;
  std::string out, err;
  long max_rss_kb = 0;  // the process's peak resident memory
};

// Runs the chunkllm binary (CHUNKLLM_BIN env var, else the build's), or `program` when given,
// with args; no shell.
CliResult RunCli(const std::vector<std::string>& args, int timeout_s = 120, const std::string& program = "");

}  // namespace chunkllm::test
