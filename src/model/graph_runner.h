// GraphRunner: where forward graphs run. A CPU backend with its thread pool (its own, or one
// shared with runners that never compute at the same time), the allocator of the graphs'
// activations, and the last graph built, which its owner reuses while its own key says the graph
// still fits (a session's micro-batches, model/session.h; several sessions' decode steps,
// model/session_batch.h).
#pragma once

#include <cstdint>
#include <vector>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "model/forward_graph.h"

namespace chunkllm {

class Model;

class GraphRunner {
 public:
  // threadpool: shared (it must outlive the runner), or null for a pool of n_threads of its own.
  GraphRunner(int n_threads, ggml_threadpool* threadpool = nullptr);
  ~GraphRunner();
  GraphRunner(const GraphRunner&) = delete;
  GraphRunner& operator=(const GraphRunner&) = delete;

  // Frees the last graph (and the policy nodes it holds), then builds the graph of `specs` and
  // allocates its activations. Throws Error if memory is short.
  const ForwardGraph& Build(const Model& model, std::vector<SequenceSpec> specs, AttentionKernel kernel);
  // Frees the last graph (its policy nodes go with it).
  void Forget();
  // Runs the last graph (its inputs filled); throws Error if ggml reports a failure.
  void Compute();

  const ForwardGraph& graph() const { return graph_; }
  ggml_threadpool* threadpool() const { return threadpool_; }
  // Bytes of the compute buffer (activations of the last graph), for memory reports.
  size_t compute_bytes() const;

 private:
  ggml_backend_t backend_ = nullptr;
  ggml_threadpool* threadpool_ = nullptr;
  bool owns_threadpool_ = false;
  ggml_gallocr_t galloc_ = nullptr;
  ggml_context* graph_ctx_ = nullptr;
  ForwardGraph graph_;
  std::vector<uint8_t> graph_meta_;  // ggml context memory for the graph's nodes
};

}  // namespace chunkllm
