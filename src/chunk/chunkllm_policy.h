// ChunkLlmPolicy: ChunkLLM at inference (docs/method.md, "Selection") and its ablations, one thin
// policy over three parts:
//   the chunk index       chunk/chunk_index.h       boundaries, keys, the prompt-end state
//   a scorer              chunk/chunk_scorer.h      the adapters' score, or the oracle's
//   the selection         chunk/selection.h         ranking, vote, budget, per-layer additions
// and the queries the next selection scores with (chunk/selection_queries.h). The policy decides
// when to select and what each layer then attends to; its graph pieces (the adapters' per-token
// products) come from chunk/adapter_graph.h through the forward graph's hook.
//
// The methods (AttentionMethod):
//   chunkllm     boundaries from the Chunk Adapter, adapter scores, ICAC; each layer its own
//                top-k, or (--selection shared, the paper's) the layers' vote
//   chunk-fixed  fixed-length chunks instead of the Chunk Adapter
//   novote       each layer keeps its own top-k
//   noicac       selection at every decode token, not only at boundaries
//   oracle       chunks scored by the true full attention of the query (the adapters' ceiling)
//
// At a boundary (and after the prompt) the policy selects: candidates are the completed chunks
// except the latest ones (`local`, and more until they hold `local_tokens`); the scorer scores
// them in every layer; each layer keeps its best k, or the vote picks k for all (with a token
// budget: as many as fill it). Each layer
// attends to the `sink` first tokens, the selected chunks, the latest chunks and the open chunk.
// A selection scores with the latest token's query, or, for adapters trained with the served
// query target, after a prompt with the query of the open chunk's selection token (the token at
// which its chunk before closed): the query that training scored the open chunk's tokens with.
//
// Two knobs of ours for the prompt -> answer hand-over (docs/benchmarks.md, "where niah_single
// was lost"): first_selection dense-step lets the first decode step after a prompt read the whole
// cache and makes the first selection with its query instead of the prompt's last token's; on
// the demo backbone the question's last word ("... is") does not attend to the needle, the step
// that feeds the answer's first piece does. layer_topk M adds each layer's own top M chunks to
// the voted set (selection.h; with the shared selection only).
//
// A PolicySpec (chunk/policy_spec.h) checks the options and the adapters once and makes one
// policy per sequence; the constructor takes them as checked.
#pragma once

#include <memory>
#include <vector>

#include "chunk/adapter_graph.h"
#include "chunk/adapter_runtime.h"
#include "chunk/attention_options.h"
#include "chunk/chunk_index.h"
#include "chunk/chunk_scorer.h"
#include "chunk/gathered_policy.h"
#include "chunk/selection_queries.h"

namespace chunkllm {

class Model;

class ChunkLlmPolicy final : public GatheredPolicy, private PrefillGatherer {
 public:
  // options.method is one of the ChunkLLM methods (IsChunkMethod).
  ChunkLlmPolicy(const Model& model, std::shared_ptr<const AdapterRuntime> adapters, const AttentionOptions& options);

  const char* name() const override { return Name(options_.method); }
  GraphTaps taps() const override;
  std::unique_ptr<PolicyGraph> NewGraph() override;
  // With --prefill sparse: the batches of a prompt before its dense tail, once the batch's
  // gathered rows (PrefillRowsBound) are fewer than its causal past.
  SparsePrefillBatch PrefillBatch(int pos0, int n_tokens, int prompt_end) override;
  // For tests: sparse prefill also where a batch's gathered rows are not fewer than its causal
  // past (the dense tail still applies), so small prompts run every path.
  void set_prefill_sparse_everywhere(bool on) { prefill_everywhere_ = on; }
  // The positions layer l read in the latest sparse prefill batch (ascending, the batch's own last).
  const std::vector<int>& prefill_positions(int layer) const { return prefill_positions_[size_t(layer)]; }

  const ChunkIndex& index() const { return index_; }
  // The chunk index's layout and keys, for tests: chunk c covers [chunk_begin(c), chunk_end(c)).
  int n_chunks() const { return index_.n_chunks(); }
  int chunk_begin(int c) const { return index_.chunk_begin(c); }
  int chunk_end(int c) const { return index_.chunk_end(c); }
  const std::vector<float>& chunk_keys(int layer) const { return index_.keys(layer); }  // (C, r)
  const std::vector<std::vector<int>>& selected() const { return selected_; }          // [layer][chunk]
  const AdapterRuntime* adapters() const { return adapters_.get(); }
  // The next selection's queries in `layer`: (n_q, W), W = r (adapters) or H*Dh (oracle), and,
  // with select_query recent, the positions of those n_q tokens.
  const std::vector<float>& selection_queries(int layer) const { return queries_.layer(layer); }
  const std::vector<int>& recent_positions() const { return queries_.recent_positions(); }

 protected:
  void OnBeginBatch(int pos0, int n_tokens, const int32_t* tokens) override;
  void OnEndBatch(const SequenceGraph& graph, int pos0, int n_tokens) override;
  // Back to 0 (a new prompt) or to the end of the last prefill (bench and eval repeat decodes
  // from there): the chunk index and the pending selection are restored. Elsewhere: Error.
  void OnTruncate(int n) override;
  bool CanTruncate(int n) const override { return n == 0 || n == index_.prompt_end(); }

 private:
  void Select();
  void ArmFirstSelection();
  void GatherLayer(int layer, const float* features, const float* rotated, int T, int n_kv,
                   ggml_fp16_t* mask) override;

  std::shared_ptr<const AdapterRuntime> adapters_;
  AttentionOptions options_;
  bool vote_, icac_, fixed_;
  bool served_query_;                        // a prefill selects with its open chunk's selection query
  bool dense_step_;                          // first_selection dense-step
  int layer_topk_;                           // options' layer_topk, resolved
  std::unique_ptr<ChunkScorer> scorer_;
  ChunkIndex index_;
  SelectionQueries queries_;
  std::vector<uint8_t> evicted_;             // per chunk
  std::vector<std::vector<int>> selected_;   // per layer: chunks of the last selection
  bool select_before_decode_ = false;        // a prefill ended: select before the next step
  bool select_after_step_ = false;           // dense-step: a prefill ended, select after the next step
  std::vector<float> batch_keys_;            // (L, n, r) the batch's K-Adapter features
  std::vector<float> batch_parts_;           // (n, n Hc) the batch's boundary parts
  int prefill_pos0_ = 0;                     // the running sparse prefill batch's first position
  bool prefill_everywhere_ = false;          // set_prefill_sparse_everywhere
  std::vector<std::vector<int>> prefill_positions_;  // per layer: the latest sparse batch's
};

}  // namespace chunkllm
