// AdapterScorer: the adapters' chunk score (chunk/chunk_score.h) as a ChunkScorer. A query is
// the Q-Adapter's output on the selecting token's attn_norm(h_{l-1}) (r floats), which it reads
// from the forward graph's attn_in tap.
#pragma once

#include <memory>
#include <vector>

#include "chunk/adapter_runtime.h"
#include "chunk/chunk_scorer.h"

namespace chunkllm {

class AdapterScorer final : public ChunkScorer {
 public:
  AdapterScorer(std::shared_ptr<const AdapterRuntime> adapters, int n_embd);
  GraphTaps taps() const override { return {.attn_in = true}; }
  int query_width() const override { return adapters_->rank(); }
  void ReadQuery(const SequenceGraph& g, int row, int layer, float* out) override;
  // Distances count back from the open chunk, whose tokens read this selection: candidates lie
  // local + 1 or more chunks back, as they do from a token's own chunk in training.
  std::vector<std::vector<float>> Scores(const ScoringInputs& in, const std::vector<int>& candidates) const override;

 private:
  std::shared_ptr<const AdapterRuntime> adapters_;
  std::vector<float> x_;  // scratch: (D) one row of attn_in
};

}  // namespace chunkllm
