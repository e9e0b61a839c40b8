// SessionBatch: one decode step of several sessions in one forward graph, as a server decodes all
// its busy slots at once. Each session keeps its own KV cache and attention policy; the graph
// runs the weights' matmuls over every session's token together (D, N), so the weights are read
// once per step for all of them, and each session's attention reads only its own cache.
//
// A session's logits are its own Decode's, bit for bit: every matmul computes each column alone in
// the order a lone decode uses (forward_graph.cpp, MatMul), and attention reads only the session's
// own cache (tests/chunk/test_session_batch.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "model/session.h"

namespace chunkllm {

class SessionBatch {
 public:
  // Sessions handed to Decode must be of `model`. threadpool: shared with those sessions (they
  // never compute at the same time as the batch), or null for a pool of n_threads of its own.
  SessionBatch(const Model& model, int n_threads, AttentionKernel kernel, ggml_threadpool* threadpool = nullptr);
  ~SessionBatch();
  SessionBatch(const SessionBatch&) = delete;
  SessionBatch& operator=(const SessionBatch&) = delete;

  // Appends tokens[i] to sessions[i] (distinct sessions); afterwards sessions[i]->last_logits()
  // holds its logits. Checks every token and context before any session changes; an Error
  // thrown after that (compute memory) leaves the sessions' state unknown.
  void Decode(const std::vector<Session*>& sessions, const std::vector<int32_t>& tokens);

 private:
  const Model& model_;
  AttentionKernel kernel_;
  ggml_backend_t backend_ = nullptr;
  ggml_threadpool* threadpool_ = nullptr;
  bool owns_threadpool_ = false;
  ggml_gallocr_t galloc_ = nullptr;
  // The last graph, reused while every session's part of it and its caches stay the same.
  struct Part {
    const Session* session;
    uint64_t policy_epoch;  // the session's policy (its graph nodes are in the graph)
    Session::GraphKey key;
    const ggml_tensor* cache;  // the session's K tensor of layer 0 (new after a Reacquire)
    bool operator==(const Part&) const = default;
  };
  std::vector<Part> graph_key_;
  ggml_context* graph_ctx_ = nullptr;
  ForwardGraph graph_;
  std::vector<uint8_t> graph_meta_;
};

}  // namespace chunkllm
