// ChunkScorer: how a ChunkLLM policy ranks a selection's candidate chunks in every layer. Two
// kinds, chosen by the method:
//   AdapterScorer (chunk/adapter_scorer.h)  the adapters' chunk score: the Q-Adapter's query
//                                           against the chunk keys (chunk/chunk_score.h)
//   OracleScorer  (chunk/oracle_scorer.h)   the chunk's share of the query's true attention over
//                                           the full cache (the adapters' ceiling)
// A scorer says which of the forward graph's tensors its queries come from and turns a graph
// row into a query; the policy keeps the queries (chunk/selection_queries.h) and the chunks
// (chunk/chunk_index.h) and asks for scores at each selection.
#pragma once

#include <vector>

#include "model/forward_graph.h"
#include "model/kv_cache.h"

namespace chunkllm {

class ChunkIndex;
class SelectionQueries;

// What a selection scores against: the chunks, the queries, and the session's full cache.
struct ScoringInputs {
  const ChunkIndex& index;
  const SelectionQueries& queries;
  const KvCache* cache;  // the full cache (null or released when the method does not read it)
  int n_past;            // positions cached
};

class ChunkScorer {
 public:
  virtual ~ChunkScorer() = default;
  // The graph tensors ReadQuery reads (attn_in or q_rope).
  virtual GraphTaps taps() const = 0;
  // W: floats of one query, r (adapters) or H*Dh (oracle).
  virtual int query_width() const = 0;
  // Row `row` of the batch that graph g ran, in layer l -> its query (W floats).
  virtual void ReadQuery(const SequenceGraph& g, int row, int layer, float* out) = 0;
  // [layer][candidate] scores of the candidate chunks (indices into the index, ascending); any
  // real scale: selection reads only their order and mean (chunk/selection.h).
  virtual std::vector<std::vector<float>> Scores(const ScoringInputs& in, const std::vector<int>& candidates) const = 0;
};

}  // namespace chunkllm
