// SelectionQueries: the queries the next selection of a ChunkLLM policy scores with, per layer
// (n_q, W) with W the scorer's query width, and the positions they were read at. Which rows a
// policy keeps: the latest token's (n_q = 1; --select-query last, the paper's), or with
// --select-query recent (ours) every token's from the latest completed chunk's start to now.
// Keeps a copy at the end of the latest prompt, as the chunk index does.
#pragma once

#include <vector>

#include "chunk/chunk_scorer.h"

namespace chunkllm {

class SelectionQueries {
 public:
  SelectionQueries(int n_layer, int width, bool recent);

  // Row `row` of graph g, at position pos, becomes the one query.
  void Remember(ChunkScorer& scorer, const SequenceGraph& g, int row, int pos);
  // select_query recent: rows older than position `from` (the latest completed chunk's start)
  // leave from the front; the batch's rows [pos0, pos0 + n) from `from` on join at the back.
  void RememberRecent(ChunkScorer& scorer, const SequenceGraph& g, int pos0, int n, int from);

  bool recent() const { return recent_; }
  int width() const { return width_; }
  int n_queries() const { return int(query_.empty() ? 0 : query_[0].size() / size_t(width_)); }
  const std::vector<float>& layer(int l) const { return query_[size_t(l)]; }  // (n_q, W)
  int latest_position() const { return latest_pos_; }
  // The position query iq was read at.
  int position(int iq) const { return recent_ ? recent_pos_[size_t(iq)] : latest_pos_; }
  const std::vector<int>& recent_positions() const { return recent_pos_; }

  void Clear();
  void MarkPromptEnd();
  void RestorePromptEnd();

 private:
  int width_;
  bool recent_;
  std::vector<std::vector<float>> query_;  // per layer: (n_q, W)
  int latest_pos_ = -1;                    // position of the latest row
  std::vector<int> recent_pos_;            // recent: positions of the rows
  struct {
    std::vector<std::vector<float>> query;
    int latest_pos = -1;
    std::vector<int> recent_pos;
  } prompt_end_;
};

}  // namespace chunkllm
