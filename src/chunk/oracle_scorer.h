// OracleScorer: chunks ranked by the query's true full attention (`--attn oracle`, the adapters'
// ceiling). A query is the backbone's own query of the selecting token after QK-norm and RoPE
// (H*Dh floats, the forward graph's q_rope tap); a chunk's score in layer l is its share of that
// query's softmax attention over every cached position, summed over the chunk's positions and
// averaged over heads (and over the queries, with --select-query recent). It reads the full KV
// cache, so it cannot run with --kv evict.
#pragma once

#include <vector>

#include "chunk/chunk_scorer.h"
#include "model/model_config.h"

namespace chunkllm {

class OracleScorer final : public ChunkScorer {
 public:
  explicit OracleScorer(const ModelConfig& config) : c_(config) {}
  GraphTaps taps() const override { return {.q_rope = true}; }
  int query_width() const override { return c_.n_head * c_.head_dim; }
  void ReadQuery(const SequenceGraph& g, int row, int layer, float* out) override;
  std::vector<std::vector<float>> Scores(const ScoringInputs& in, const std::vector<int>& candidates) const override;

 private:
  const ModelConfig& c_;
};

}  // namespace chunkllm
