// RetrievalProbe: fixed synthetic retrieval documents (by default passkey, and niah_single over
// validation prose) scored by teacher-forced exact match of the answer: the share of documents whose
// every answer token is the model's argmax. During pretraining it says whether the model has
// learnt to copy from far back, which the mean loss hardly shows (the answer is a few tokens
// of thousands).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pretrain/torch_llama.h"

namespace chunkllm {

class Haystack;
class Tokenizer;

class RetrievalProbe {
 public:
  // n documents per task at `length` tokens, needles at evenly spread depths (0 .. 1).
  RetrievalProbe(const Tokenizer& tok, const Haystack& haystack, int length, int n_per_task, uint64_t seed,
                 const std::vector<std::string>& tasks = {"passkey", "niah_single"});

  // Share of documents answered exactly, in [0, 1]; NaN if no document could be built.
  double Accuracy(TorchLlama& model, bool bf16) const;
  int length() const { return length_; }
  size_t size() const { return docs_.size(); }

 private:
  struct Document {
    std::vector<int32_t> tokens;  // BOS context question answer_prefix answer
    size_t answer_begin;          // tokens[answer_begin ..] are the answer
  };
  std::vector<Document> docs_;
  int length_;
};

}  // namespace chunkllm
