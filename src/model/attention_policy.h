// AttentionPolicy: the one hook through which ChunkLLM and the baselines steer attention.
//
// model/ owns this interface and never includes chunk/. A session calls the policy before
// each micro-batch. The dense policy reads every cached position under the causal mask;
// the sparse policies of chunk/ extend this interface with the positions each layer reads, and
// add their own nodes to the forward graph through the graph hook (NewGraph, model/graph_hook.h),
// so the model runs ChunkLLM's adapters without knowing them.
#pragma once

#include <cstdint>
#include <memory>

#include "model/forward_graph.h"
#include "model/graph_hook.h"
#include "model/kv_cache.h"

namespace chunkllm {

// What a policy did over a run, for reports (docs/method.md, "Gathered attention and KV
// policies"). Decode steps, and apart from them the prefill's tokens (sparse prefill reads less).
struct AttentionStats {
  int64_t decode_steps = 0;
  double attended_sum = 0;  // sum over decode steps of KV positions read
  double cached_sum = 0;    // sum over decode steps of KV positions seen so far
  double resident_sum = 0;  // sum over decode steps of KV positions kept in memory
  int64_t selections = 0;   // chunk selections made (ChunkLLM: one per boundary)
  // Bytes the policy read beside attention in decode steps: the chunk keys a selection scores
  // and the K/V rows it copies into the gathered cache (for the bench's memory floor).
  double policy_read_bytes = 0;
  // Prefill: sum over prompt tokens of the positions each read (mean over layers) and of the
  // positions it could read (causal: its own position + 1).
  double prefill_attended_sum = 0;
  double prefill_causal_sum = 0;
  int64_t sparse_prefill_batches = 0;  // prefill micro-batches that attended sparsely

  double prefill_attended_fraction() const {
    return prefill_causal_sum > 0 ? prefill_attended_sum / prefill_causal_sum : 1.0;
  }
  double attended_fraction() const { return cached_sum > 0 ? attended_sum / cached_sum : 1.0; }
  double resident_fraction() const { return cached_sum > 0 ? resident_sum / cached_sum : 1.0; }
  double attended_per_step() const { return decode_steps > 0 ? attended_sum / double(decode_steps) : 0.0; }
  double policy_read_bytes_per_step() const {
    return decode_steps > 0 ? policy_read_bytes / double(decode_steps) : 0.0;
  }
  double selections_per_token() const {
    return decode_steps > 0 ? double(selections) / double(decode_steps) : 0.0;
  }
};

// A prefill micro-batch that attends to a gathered subset (sparse prefill): layer l's attention
// reads rows [0, n_kv) of `cache`, which the policy's graph node for layer l fills while the
// graph runs (PolicyGraph::SparsePrefillMask), once that layer's K/V of the batch are written.
struct SparsePrefillBatch {
  const KvCache* cache = nullptr;  // null: the batch attends densely
  int n_kv = 0;
};

class AttentionPolicy {
 public:
  virtual ~AttentionPolicy() = default;
  virtual const char* name() const = 0;

  // Called once by the session that uses the policy, with its full KV cache (read rows from it
  // to gather them; an evicting policy may Release() it).
  virtual void Attach(KvCache& cache) {}

  // Called before a micro-batch of n_tokens tokens at positions [pos0, pos0 + n_tokens).
  virtual void BeginBatch(int pos0, int n_tokens, const int32_t* tokens) {}

  // The session forgot positions >= n (Truncate, Clear): forget what was built on them.
  virtual void Truncate(int n) {}
  // Whether Truncate(n) can be done (a policy that keeps an index of the cache may only go back
  // to where it kept a copy of that index; 0, starting again, is always possible).
  virtual bool CanTruncate(int n) const { return true; }

  // Before building the graph of a prefill batch [pos0, pos0 + n_tokens) of a prompt that ends
  // at prompt_end: whether it attends sparsely, and over which gathered cache.
  virtual SparsePrefillBatch PrefillBatch(int pos0, int n_tokens, int prompt_end) { return {}; }

  // Intermediate tensors the policy reads after each batch (fixed for a policy's lifetime).
  virtual GraphTaps taps() const { return {}; }
  // The policy's nodes for a graph being built (null: none). The session asks again whenever it
  // builds a new graph; the graph owns what it returns (SequenceGraph::policy). Its nodes may call
  // back into the policy while the graph runs (sparse prefill), so the policy outlives it.
  virtual std::unique_ptr<PolicyGraph> NewGraph() { return nullptr; }
  // Called after the batch's graph ran: the tapped tensors of this session's part of the graph
  // and its policy nodes hold this batch's values.
  virtual void EndBatch(const SequenceGraph& graph, int pos0, int n_tokens) {}

  // Gathered attention for decode steps (one token): a policy-owned cache whose rows
  // [0, gathered_rows(l)) hold, contiguously, the K/V rows layer l reads. The step's token is
  // appended at row gathered_rows(l) and attended too. Null: dense attention over the session's
  // cache. (Prefill batches: PrefillBatch.)
  virtual const KvCache* gathered_cache() const { return nullptr; }
  virtual int gathered_rows(int layer) const { return 0; }
  // The mask of layer l over gathered rows [0, n_kv) for a decode step: 0 = read, -inf = skip.
  // Returns false for the default: rows [0, gathered_rows(l)] read, the padding skipped.
  virtual bool GatheredMask(int layer, int n_kv, ggml_fp16_t* mask) const { return false; }
  // False once an evicting policy has released the session's full cache: decode then writes
  // only the gathered cache.
  virtual bool keeps_full_cache() const { return true; }

  const AttentionStats& stats() const { return stats_; }
  void ResetStats() { stats_ = AttentionStats{}; }

 protected:
  AttentionStats stats_;
};

// Dense (vanilla) attention: every cached position.
class DensePolicy final : public AttentionPolicy {
 public:
  const char* name() const override { return "dense"; }
  void BeginBatch(int pos0, int n_tokens, const int32_t*) override {
    if (n_tokens != 1) {
      const double causal = double(n_tokens) * pos0 + double(n_tokens) * (n_tokens + 1) / 2;
      stats_.prefill_attended_sum += causal;
      stats_.prefill_causal_sum += causal;
      return;
    }
    stats_.decode_steps += 1;
    stats_.attended_sum += pos0 + 1;
    stats_.cached_sum += pos0 + 1;
    stats_.resident_sum += pos0 + 1;
  }
};

}  // namespace chunkllm
