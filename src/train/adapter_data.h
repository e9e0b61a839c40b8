// Training data for the adapters: documents as one token stream with Chunk Adapter labels
// (1 at the last token of each sentence, from text/sentence_splitter.h), cut into windows.
//
// A window is a pure function of (seed, step): resuming at step s sees exactly the windows an
// uninterrupted run would have seen.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace chunkllm {

class Tokenizer;

struct AdapterCorpus {
  std::vector<int32_t> tokens;   // BOS doc_0 BOS doc_1 ...
  std::vector<uint8_t> labels;   // 1 at each sentence's last token and at each document's last token
  size_t n_documents = 0;
  size_t n_skipped = 0;          // documents whose pieces could not be aligned to the text
  uint64_t n_sentences = 0;

  // BOS followed by the T - 1 stream tokens at a start drawn from (seed, step); labels alike
  // (BOS is no boundary). A corpus shorter than T gives a shorter window.
  void Window(uint64_t seed, int64_t step, int T, std::vector<int32_t>& tokens_out,
              std::vector<uint8_t>& labels_out) const;
  // n windows at evenly spaced starts (validation).
  void FixedWindow(int i, int n, int T, std::vector<int32_t>& tokens_out, std::vector<uint8_t>& labels_out) const;

  int32_t bos = 1;
};

// Reads .txt files (files or directories). Throws Error naming a missing, empty or binary file.
AdapterCorpus LoadAdapterCorpus(const Tokenizer& tokenizer, const std::vector<std::string>& paths);

}  // namespace chunkllm
