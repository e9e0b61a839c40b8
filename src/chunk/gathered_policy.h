// GatheredPolicy: the base of every sparse policy. It owns the gathered KV cache: per layer,
// the K/V rows of the positions that layer attends to, contiguous, so a decode step reads only
// them (masking the full cache would save nothing). Subclasses choose the positions; this class
// copies the rows, appends each decode token, and keeps the statistics.
//
// KV policies: resident (the session's full cache keeps every position; rows are gathered from
// it, so any chunk can come back) or evict (after the first selection the full cache is
// released; later selections compact the gathered rows, and what is dropped is gone).
#pragma once

#include <memory>
#include <vector>

#include "model/attention_policy.h"
#include "model/kv_cache.h"
#include "model/model_config.h"

namespace chunkllm {

class GatheredPolicy : public AttentionPolicy {
 public:
  GatheredPolicy(const ModelConfig& config, bool evict);

  void Attach(KvCache& cache) override { full_ = &cache; }
  const KvCache* gathered_cache() const override { return active_ ? gathered_.get() : nullptr; }
  int gathered_rows(int layer) const override { return int(positions_[size_t(layer)].size()); }
  bool keeps_full_cache() const override { return !(full_ && full_->released()); }
  void BeginBatch(int pos0, int n_tokens, const int32_t* tokens) override;
  void EndBatch(const SequenceGraph& graph, int pos0, int n_tokens) override;
  // Drops positions >= n; gathered attention resumes at the next selection. After an eviction
  // only the current state exists: truncating then is an Error.
  void Truncate(int n) override;

  // Positions layer l attends to (ascending), for tests and reports.
  const std::vector<int>& positions(int layer) const { return positions_[size_t(layer)]; }
  bool evict() const { return evict_; }
  // Positions layer l read in the last decode step besides its own token (empty: it was dense).
  const std::vector<int>& last_read(int layer) const { return last_read_[size_t(layer)]; }

 protected:
  // Hooks for subclasses. Before: the tokens of the batch (decode: one). After: the batch ran
  // (for a decode step its token is already appended to every layer's positions).
  virtual void OnBeginBatch(int pos0, int n_tokens, const int32_t* tokens) {}
  virtual void OnEndBatch(const SequenceGraph& graph, int pos0, int n_tokens) = 0;
  virtual void OnTruncate(int n) = 0;

  // Sets the attended positions of layer l (ascending, < n_past) and gathers their rows; with
  // evict, positions must be a subset of the current ones (the full cache is gone after the
  // first call). Turns gathered attention on.
  void SetPositions(int layer, const std::vector<int>& positions);
  int n_layer() const { return n_layer_; }
  int n_past() const { return n_past_; }
  // The session's full cache (null before Attach; released() after an eviction).
  const KvCache* full_cache() const { return full_; }

  // Sparse prefill (chunk/sparse_prefill.h). The gathered cache, grown to at least `rows` rows,
  // for a prefill batch that a subclass's PrefillBatch makes sparse; the batch's statistics then
  // come from GatherPrefillRows. (Decode's rows are gathered again by the next selection.)
  SparsePrefillBatch SparseBatch(int rows);
  // While the batch [pos0, pos0 + T) runs: copies the full cache's rows of `positions` (ascending,
  // the batch's own last) into layer l's rows [0, n) and counts what the batch's tokens read.
  void GatherPrefillRows(int layer, const std::vector<int>& positions, int pos0, int T);

 private:
  void EnsureCapacity(int rows);
  // Copies a K/V row of layer l; counted in policy_read_bytes unless for a prefill.
  void CopyRow(const KvCache& from, int from_row, int to_row, int layer, bool count = true);

  const ModelConfig& config_;
  int n_layer_;
  bool evict_;
  KvCache* full_ = nullptr;
  std::unique_ptr<KvCache> gathered_;
  std::vector<std::vector<int>> positions_;  // per layer
  std::vector<std::vector<int>> last_read_;  // per layer
  bool active_ = false;
  bool decode_gathered_ = false;  // the running decode step uses the gathered cache
  bool sparse_batch_ = false;     // the running prefill batch is sparse (SparseBatch)
  int n_past_ = 0;
};

}  // namespace chunkllm
