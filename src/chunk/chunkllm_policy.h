// ChunkLLM at inference (docs/method.md, "Selection") and its ablations, as one policy with knobs:
//   chunkllm     boundaries from the Chunk Adapter, adapter scores, layer vote, ICAC
//   chunk-fixed  fixed-length chunks instead of the Chunk Adapter
//   novote       each layer keeps its own top-k
//   noicac       selection at every decode token, not only at boundaries
//   oracle       chunks scored by the true full attention of the query (the adapters' ceiling)
//
// The chunk index grows during prefill and decode: a token ends a chunk when the Chunk Adapter
// says so (p > alpha; with a boundary delay of 1, from the next token's h_1, so the chunk
// closes one token later) or when the chunk reaches max_chunk tokens; each layer stores the
// K-Adapter key of every completed chunk. At a boundary (and after the prompt's last token)
// the policy selects: candidates are the completed chunks except the last `local` ones; each
// layer scores them with its Q-Adapter query; the vote picks k (or, with a token budget, as
// many as fill it: selection.h). Attended positions are the
// `sink` first tokens, the selected chunks, the `local` latest chunks and the open chunk.
// A selection scores with the latest token's Q-Adapter query, or, for adapters trained with
// the served query target, after a prompt with the query of the open chunk's selection token
// (the token at which its chunk before closed): the query that training scored the open
// chunk's tokens with. With select_query "recent" (ours) a selection averages over the
// queries of every token from the latest completed chunk's start to now (after a prompt: the
// question and the answer prefix, not only the prefix's last word): the adapters' logits, or
// the oracle's attention masses.
//
// Two knobs of ours for the prompt -> answer hand-over (docs/method.md, "Selection"; measured in
// docs/benchmarks.md, "where niah_single was lost"):
// first_selection "dense-step" lets the first decode step after a prompt read the whole cache
// and makes the first selection with its query instead of the prompt's last token's: on the
// demo backbone the question's last word ("... is") does not attend to the needle, the step
// that feeds the answer's first piece does. layer_topk M adds each layer's own top M chunks to
// the voted set (selection.h).
#pragma once

#include <memory>
#include <vector>

#include "chunk/adapter_runtime.h"
#include "chunk/gathered_policy.h"
#include "chunk/selection_defaults.h"

namespace chunkllm {

class Model;

struct ChunkPolicyOptions {
  std::string method = "chunkllm";  // chunkllm | chunk-fixed | novote | noicac | oracle
  int topk = selection_defaults::kTopk, local = selection_defaults::kLocal, sink = selection_defaults::kSink;
  // Ours: beyond the `local` latest chunks, keep more of the latest ones until they hold at least
  // this many tokens (0: off). A recent window in whole chunks, as InfLLM keeps a local window
  // beside its retrieved blocks: next-token prediction of prose leans on the last few hundred
  // tokens whatever their sentences (1K perplexity +0.30% against +2.24% with the paper's two
  // local chunks: docs/benchmarks.md, "Short text"). 256: the recent window of the streaming
  // and SepLLM baselines (--window).
  int local_tokens = selection_defaults::kLocalTokens;
  int budget_tokens = 0;            // > 0: select chunks up to this many tokens instead of topk
  int chunk_len = selection_defaults::kChunkLen;  // chunk-fixed: tokens per chunk
  // last (the latest token's) | recent (mean since the latest chunk)
  std::string select_query = selection_defaults::kSelectQuery;
  // dense-step (ours) | prompt (its last token selects: the paper's)
  std::string first_selection = selection_defaults::kFirstSelection;
  // With the vote: each layer's own top chunks added to the shared set (novote: nothing to add,
  // each layer has its own top-k already).
  int layer_topk = selection_defaults::kLayerTopk;
  bool evict = false;
};

class ChunkLlmPolicy final : public GatheredPolicy {
 public:
  // adapters may be null only for oracle with chunk boundaries every chunk_len tokens.
  ChunkLlmPolicy(const Model& model, std::shared_ptr<const AdapterRuntime> adapters, const ChunkPolicyOptions& o);

  const char* name() const override { return options_.method.c_str(); }
  GraphTaps taps() const override;

  // The chunk index, for tests: chunk c covers [chunk_begin(c), chunk_end(c)).
  int n_chunks() const { return int(chunk_end_.size()); }
  int chunk_begin(int c) const { return c == 0 ? 0 : chunk_end_[size_t(c - 1)]; }
  int chunk_end(int c) const { return chunk_end_[size_t(c)]; }
  const std::vector<float>& chunk_keys(int layer) const { return keys_[size_t(layer)]; }  // (C, r)
  const std::vector<std::vector<int>>& selected() const { return selected_; }             // [layer][chunk]
  const AdapterRuntime* adapters() const { return adapters_.get(); }  // null for oracle without adapters
  // The next selection's queries in `layer`: (n_q, W), W = r (adapters) or H*Dh (oracle), and,
  // with select_query recent, the positions of those n_q tokens.
  const std::vector<float>& selection_queries(int layer) const { return query_[size_t(layer)]; }
  const std::vector<int>& recent_positions() const { return recent_pos_; }

 protected:
  void OnBeginBatch(int pos0, int n_tokens, const int32_t* tokens) override;
  void OnEndBatch(const ForwardGraph& graph, int pos0, int n_tokens) override;
  // Back to 0 (a new prompt) or to the end of the last prefill (bench and eval repeat decodes
  // from there): the chunk index and the pending selection are restored. Elsewhere: Error.
  void OnTruncate(int n) override;
  // Back to 0 or to the end of the latest prompt, where the chunk index was kept.
  bool CanTruncate(int n) const override { return n == 0 || n == prompt_end_.n_past; }

 private:
  // Copies the graph's adapter outputs for the batch's n rows into batch_keys_ and batch_parts_.
  void ReadBatch(const ForwardGraph& g, int n);
  // Layer l's key features of the batch's row `row` (r floats in batch_keys_).
  const float* BatchKey(int l, int row) const;
  // Row `row`'s key features of every layer, (L, r).
  void RowKeys(int row, std::vector<float>& out) const;
  // Shifts the boundary parts of row `row` (the next token in order) into boundary_parts_.
  void PushBoundaryParts(int row);
  // Whether the Chunk Adapter, on boundary_parts_, says its token ends a chunk.
  bool ClassifierEnds() const;
  // Row `row` of the batch, at position pos: closes the chunks that end with it.
  bool CloseChunks(int row, int pos);
  // Appends the chunk ending before `end`, keyed by its last token's key features (L, r)
  // (boundary keys) or by the mean of its tokens' features (mean keys: open_key_sum_).
  void AddChunk(int end, const std::vector<float>& key_features);
  // Mean keys: adds row `row`'s key features to the open chunk's sums.
  void AccumulateKey(int row);
  // Row `row`'s query in layer l into out: W floats, r (adapters) or H*Dh (oracle).
  void ReadQuery(const ForwardGraph& g, int row, int l, float* out);
  void RememberQuery(const ForwardGraph& g, int row, int pos);  // pos: the row's position
  // select_query recent: keeps the queries of positions from the latest completed chunk's
  // start through the batch's last token, and makes them the selection's queries.
  void RememberRecentQueries(const ForwardGraph& g, int pos0, int n);
  std::vector<std::vector<float>> Scores(const std::vector<int>& candidates) const;
  void Select();
  void ArmFirstSelection();

  const Model& model_;
  std::shared_ptr<const AdapterRuntime> adapters_;
  ChunkPolicyOptions options_;
  bool vote_, icac_, oracle_, fixed_;
  bool served_query_;                        // a prefill selects with its open chunk's selection query
  bool recent_query_;                        // select_query recent
  int r_;
  int query_width_;                          // W: r, or H*Dh for the oracle
  int delay_ = 0;                            // the adapters' boundary delay (0 or 1)
  std::vector<int> chunk_end_;               // one past each completed chunk's last token
  std::vector<std::vector<float>> keys_;     // per layer: (C, r) chunk keys
  std::vector<uint8_t> evicted_;             // per chunk
  std::vector<std::vector<float>> query_;    // per layer: (n_q, W) the selection's queries
  int query_pos_ = -1;                       // position of query_'s latest row
  std::vector<int> recent_pos_;              // select_query recent: positions of query_'s rows
  std::vector<std::vector<int>> selected_;   // per layer: chunks of the last selection
  bool dense_step_;                          // first_selection dense-step
  bool select_before_decode_ = false;        // a prefill ended: select before the next step
  bool select_after_step_ = false;           // dense-step: a prefill ended, select after the next step
  struct PromptEnd {                         // the state right after the last prefill
    int n_past = -1;
    size_t n_chunks = 0;
    std::vector<std::vector<float>> query;
    int query_pos = -1;
    std::vector<int> recent_pos;
    std::vector<float> prev_keys;
    std::vector<float> boundary_parts;
    std::vector<float> open_key_sum;
    int open_key_count = 0;
  } prompt_end_;
  AdapterGraphWeights graph_weights_;        // the adapters' tensors the graph runs (taps())
  std::vector<float> batch_keys_;            // (L, batch_rows_, r) the batch's K-Adapter features
  int batch_rows_ = 0;                       // rows of the latest batch (ReadBatch)
  std::vector<float> batch_parts_;           // (n, parts_width_) the batch's boundary parts
  int parts_width_ = 0;                      // n Hc: boundary parts of one token
  std::vector<float> prev_keys_;             // (L, r) key features of the latest token (delay 1)
  bool mean_key_ = false;                    // chunk_key mean: a chunk's key is its tokens' mean
  std::vector<float> open_key_sum_;          // mean keys: (L, r) sum of the open chunk's key features
  int open_key_count_ = 0;                   // mean keys: tokens in open_key_sum_
  // (n, n Hc) the Chunk Adapter's input after the latest token: the boundary parts of the last
  // n = boundary_inputs tokens, oldest first, zeros before position 0.
  std::vector<float> boundary_parts_;
  std::vector<float> cur_keys_;              // scratch: (L, r)
  std::vector<float> row_;                   // scratch
};

}  // namespace chunkllm
