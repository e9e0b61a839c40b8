#include "chunk/selection_queries.h"

#include <algorithm>

namespace chunkllm {

SelectionQueries::SelectionQueries(int n_layer, int width, bool recent)
    : width_(width), recent_(recent), query_(size_t(n_layer)) {}

void SelectionQueries::Remember(ChunkScorer& scorer, const SequenceGraph& g, int row, int pos) {
  latest_pos_ = pos;
  for (size_t l = 0; l < query_.size(); ++l) {
    query_[l].resize(size_t(width_));
    scorer.ReadQuery(g, row, int(l), query_[l].data());
  }
}

void SelectionQueries::RememberRecent(ChunkScorer& scorer, const SequenceGraph& g, int pos0, int n, int from) {
  const size_t W = size_t(width_);
  size_t drop = 0;
  while (drop < recent_pos_.size() && recent_pos_[drop] < from) ++drop;
  recent_pos_.erase(recent_pos_.begin(), recent_pos_.begin() + long(drop));
  for (auto& q : query_) q.erase(q.begin(), q.begin() + long(drop * W));
  for (int pos = std::max(from, pos0); pos < pos0 + n; ++pos) {
    recent_pos_.push_back(pos);
    latest_pos_ = pos;
    for (size_t l = 0; l < query_.size(); ++l) {
      std::vector<float>& q = query_[l];
      q.resize(q.size() + W);
      scorer.ReadQuery(g, pos - pos0, int(l), q.data() + q.size() - W);
    }
  }
}

void SelectionQueries::Clear() {
  recent_pos_.clear();
  latest_pos_ = -1;
  for (auto& q : query_) q.clear();
  prompt_end_ = {};
}

void SelectionQueries::MarkPromptEnd() { prompt_end_ = {query_, latest_pos_, recent_pos_}; }

void SelectionQueries::RestorePromptEnd() {
  query_ = prompt_end_.query;
  latest_pos_ = prompt_end_.latest_pos;
  recent_pos_ = prompt_end_.recent_pos;
}

}  // namespace chunkllm
