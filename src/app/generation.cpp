#include "app/generation.h"

#include <limits>

namespace chunkllm {

Generation::Generation(const Tokenizer& tokenizer, const SamplerParams& sampler, int n_predict, bool ignore_eog)
    : tokenizer_(tokenizer), sampler_(sampler), n_predict_(n_predict) {
  if (!ignore_eog) return;
  for (int32_t t = 0; t < tokenizer.n_vocab(); ++t) {
    if (tokenizer.IsEndOfGeneration(t)) eog_tokens_.push_back(t);
  }
}

int32_t Generation::Next(const std::vector<float>& logits) {
  if (done()) return -1;
  if (n_predict_ >= 0 && n_generated_ >= n_predict_) {
    finish_ = FinishReason::kMaxTokens;
    return -1;
  }
  const std::vector<float>* from = &logits;
  if (!eog_tokens_.empty()) {
    masked_ = logits;
    for (int32_t t : eog_tokens_) {
      if (size_t(t) < masked_.size()) masked_[size_t(t)] = -std::numeric_limits<float>::infinity();
    }
    from = &masked_;
  }
  const int32_t token = sampler_.Sample(*from);
  if (tokenizer_.IsEndOfGeneration(token)) {
    finish_ = FinishReason::kEndOfGeneration;
    return -1;
  }
  ++n_generated_;
  return token;
}

void Generation::Stop(FinishReason why) {
  if (!done()) finish_ = why;
}

}  // namespace chunkllm
