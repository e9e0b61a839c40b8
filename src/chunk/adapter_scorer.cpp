#include "chunk/adapter_scorer.h"

#include "chunk/chunk_index.h"
#include "chunk/chunk_score.h"
#include "chunk/selection_queries.h"
#include "ggml-backend.h"

namespace chunkllm {

AdapterScorer::AdapterScorer(std::shared_ptr<const AdapterRuntime> adapters, int n_embd)
    : adapters_(std::move(adapters)), x_(size_t(n_embd)) {}

void AdapterScorer::ReadQuery(const SequenceGraph& g, int row, int l, float* out) {
  const size_t D = x_.size();
  ggml_backend_tensor_get(g.attn_in[size_t(l)], x_.data(), sizeof(float) * D * size_t(row), sizeof(float) * D);
  adapters_->Query(l, x_.data(), out);
}

std::vector<std::vector<float>> AdapterScorer::Scores(const ScoringInputs& in, const std::vector<int>& cand) const {
  const ChunkIndex& index = in.index;
  const SelectionQueries& q = in.queries;
  ChunkCandidates c;
  c.chunk = cand;
  for (int ch : cand) {
    c.distance.push_back(index.n_chunks() - ch);
    c.tokens.push_back(index.chunk_end(ch) - index.chunk_begin(ch));
    c.token_distance.push_back(q.latest_position() - (index.chunk_end(ch) - 1));
  }
  const int n_q = q.n_queries();
  std::vector<int> positions(static_cast<size_t>(n_q));
  for (int iq = 0; iq < n_q; ++iq) positions[size_t(iq)] = q.position(iq);
  std::vector<std::vector<float>> s(size_t(adapters_->n_layer()));
  for (int l = 0; l < adapters_->n_layer(); ++l) {
    const ChunkQueries queries{q.layer(l).data(), n_q, positions.data()};
    ChunkScores(adapters_->adapters(), l, queries, index.keys(l).data(), c, s[size_t(l)]);
  }
  return s;
}

}  // namespace chunkllm
