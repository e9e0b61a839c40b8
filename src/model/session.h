// Session: one inference stream over an immutable Model. It owns the KV cache, the compute
// backend (threads) and the graph scratch; prefill runs in micro-batches, decode one token.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "model/attention_policy.h"
#include "model/forward_graph.h"
#include "model/graph_runner.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace chunkllm {

// The largest context a session takes (-c); the KV cache must also fit in memory.
inline constexpr int kMaxContext = 1 << 30;

struct SessionParams {
  int n_ctx = 4096;      // KV cache positions (-c)
  int n_ubatch = 512;    // prefill micro-batch size
  int n_threads = 2;     // -t
  ggml_type kv_type = GGML_TYPE_F16;
  // Attention kernels (--attn-kernel, model/attention_kernel.h): ours (split-KV decode, tiled
  // prefill) or ggml's flash-attention kernel, whose arithmetic is libllama's bit for bit.
  AttentionKernel attn_kernel = AttentionKernel::kChunkllm;
  // A thread pool shared with other sessions that never compute at the same time (a server's
  // slots, model/session_batch.h), so idle pools do not spin beside the busy one; it must
  // outlive the session. Null: the session makes its own of n_threads.
  ggml_threadpool* threadpool = nullptr;
};

class Session {
 public:
  // policy may be null (dense attention); it must outlive the session.
  Session(const Model& model, const SessionParams& params, AttentionPolicy* policy = nullptr);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Appends tokens after the cached ones. Afterwards last_logits() holds the logits of the
  // last token; if all_logits is given it receives the logits of every token, [n, V] row-major.
  // progress(done, total) is called after each micro-batch. prompt_end: the position where the
  // prompt these tokens belong to ends, when they are only its next part (a server prefilling
  // one micro-batch per round); -1: after these tokens. A sparse prefill keeps the prompt's
  // last tokens dense (AttentionPolicy::PrefillBatch).
  // Throws Error if a token id is out of range or the tokens do not fit in n_ctx.
  void Prefill(const std::vector<int32_t>& tokens, std::vector<float>* all_logits = nullptr,
               const std::function<void(int, int)>& progress = {}, int prompt_end = -1);

  // Appends one token; returns its logits (V floats).
  const std::vector<float>& Decode(int32_t token);

  const std::vector<float>& last_logits() const { return logits_; }
  int n_past() const { return kv_.n_past(); }
  int n_ctx() const { return params_.n_ctx; }
  const SessionParams& params() const { return params_; }
  const Model& model() const { return model_; }
  const KvCache& kv_cache() const { return kv_; }
  // Forgets all cached positions; after an evicting policy released the full cache, it is
  // allocated again (a fresh start needs nothing of the past).
  void Clear() { Truncate(0); }
  // Forgets positions >= n (keeps the first n), e.g. to re-run from a fixed depth. After an
  // eviction only n = 0 is possible (the policy refuses the rest with an Error).
  void Truncate(int n);
  // Forgets every cached position and attends with `policy` (null: dense) from now on; like the
  // constructor's, it must outlive the session (or the next ResetPolicy). A server's slot
  // switches attention methods between requests this way, keeping its KV cache's memory.
  void ResetPolicy(AttentionPolicy* policy);
  // Bytes of the compute buffer (activations of the last graph), for memory reports.
  size_t compute_bytes() const;
  // The thread pool the session computes with (its own, or the one SessionParams gave it), to
  // share with sessions and batches that compute one at a time with it.
  ggml_threadpool* threadpool() const { return runner_.threadpool(); }

 private:
  friend class SessionBatch;  // decodes several sessions in one graph with the steps below

  // One micro-batch of this session, planned: what its part of a forward graph is (GraphKey)
  // and how its inputs are filled.
  struct GraphKey {
    int n_tokens = -1, n_outputs = -1, n_kv = -1;
    const KvCache* gathered = nullptr;
    uint64_t gathered_uid = 0;  // KvCache::uid: a new gathered cache may reuse a freed one's address
    bool write_kv = true;
    bool sparse_prefill = false;
    bool operator==(const GraphKey&) const = default;
  };
  struct BatchPlan {
    GraphKey key;
    int pos0 = 0;
    int n_wanted = 0;  // the caller's output rows: the last n_wanted of key.n_outputs
  };
  // Runs one micro-batch of n_tokens tokens after the cached ones, of a prompt that ends at
  // position prompt_end; writes the logits of the last n_outputs.
  void RunBatch(const int32_t* tokens, int n_tokens, int n_outputs, float* out_logits, int prompt_end);
  // The steps of a batch: Plan tells the policy that the batch begins and sizes the graph;
  // Spec is this session's part of a new graph; SetInputs fills that part's inputs (masks, cache
  // rows); Finish, after the graph ran, copies the logits and tells the policy that it ended.
  BatchPlan Plan(const int32_t* tokens, int n_tokens, int n_outputs, int prompt_end);
  SequenceSpec Spec(const BatchPlan& plan);
  void SetInputs(const SequenceGraph& seq, const BatchPlan& plan);
  void Finish(const ForwardGraph& fg, const SequenceGraph& seq, const BatchPlan& plan, float* out_logits);
  // Checks a decode step's token and room in the context.
  void CheckDecode(int32_t token) const;

  const Model& model_;
  SessionParams params_;
  DensePolicy dense_policy_;
  AttentionPolicy* policy_;
  KvCache kv_;
  // The backend and the last graph built, reused while its shape (T, n_outputs, n_kv) repeats:
  // consecutive decode steps rebuild nothing for kKvPad steps.
  GraphRunner runner_;
  GraphKey graph_key_;
  // Unique in the process, new with every policy (ResetPolicy): a batch's graph holds the session's
  // policy nodes and its caches (model/session_batch.h keys on it and on the caches' uids).
  uint64_t generation_ = 0;
  std::vector<float> logits_;        // (V) of the last token
  std::vector<ggml_fp16_t> mask_;    // scratch for the attention mask
};

}  // namespace chunkllm
