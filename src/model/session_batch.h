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
#include <string>
#include <vector>

#include "model/graph_runner.h"
#include "model/session.h"

namespace chunkllm {

class SessionBatch {
 public:
  // Sessions handed to Decode must be of `model`. threadpool: shared with those sessions (they
  // never compute at the same time as the batch), or null for a pool of n_threads of its own.
  SessionBatch(const Model& model, int n_threads, AttentionKernel kernel, ggml_threadpool* threadpool = nullptr);
  SessionBatch(const SessionBatch&) = delete;
  SessionBatch& operator=(const SessionBatch&) = delete;

  // A session that could not take part in a step, and why.
  struct Failure {
    size_t index;  // into the sessions given to Decode
    std::string message;
  };

  // Appends tokens[i] to sessions[i] (distinct sessions of this batch's kernels); afterwards
  // sessions[i]->last_logits() holds its logits. Every token and context is checked before any
  // session changes (an Error, nothing decoded). A session whose policy then cannot plan its step
  // is left out and returned (its state is unknown, as after a failed Session::Decode); the
  // others decode. An Error thrown after that (compute memory) leaves every session's unknown.
  std::vector<Failure> Decode(const std::vector<Session*>& sessions, const std::vector<int32_t>& tokens);
  // Bytes of the compute buffer of the last graph, for memory reports.
  size_t compute_bytes() const;

 private:
  const Model& model_;
  AttentionKernel kernel_;
  // The last graph, reused while every session's part of it and its caches stay the same.
  // Identities, not addresses: a freed session, policy or cache's address may be reused.
  struct Part {
    uint64_t generation;  // the session and its policy (the policy's nodes are in the graph)
    uint64_t kv_uid;      // its full cache (new after a Reacquire); 0 while released
    Session::GraphKey key;  // with its gathered cache's uid
    bool operator==(const Part&) const = default;
  };
  std::vector<Part> graph_key_;
  GraphRunner runner_;
};

}  // namespace chunkllm
