// CopyProbe: fixed held-out copy documents of random vocabulary pieces ("Copy this list: a b c
// ... The list again: a b c ..."), scored by teacher-forced next-token accuracy on the repeat.
// Only in-order copying (an induction head: find the earlier occurrence of the current token,
// predict what followed it) gets the repeat right; a model that merely knows which pieces came
// before gets about 1 / list length, one without attention 1 / vocabulary. It is the direct
// measure of the circuit that retrieval needs, where the mean loss mixes it with everything else.
#pragma once

#include <cstdint>
#include <vector>

#include "pretrain/torch_llama.h"

namespace chunkllm {

class PretrainData;

class CopyProbe {
 public:
  // n documents of at most `length` tokens, pieces as the training data draws them
  // (PretrainDataOptions::copy_vocab).
  CopyProbe(const PretrainData& data, int length, int n, uint64_t seed);

  // Share of repeat tokens that are the model's argmax, in [0, 1]; NaN without documents.
  double Accuracy(TorchLlama& model, bool bf16) const;
  size_t size() const { return docs_.size(); }

 private:
  struct Document {
    std::vector<int32_t> tokens;  // BOS header list header list EOS
    size_t repeat_begin;          // tokens[repeat_begin, size - 1) are the repeat (EOS excluded)
  };
  std::vector<Document> docs_;
};

}  // namespace chunkllm
