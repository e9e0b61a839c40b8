#include "model/graph_runner.h"

#include "core/error.h"
#include "ggml-cpu.h"
#include "model/model.h"

namespace chunkllm {

GraphRunner::GraphRunner(int n_threads, ggml_threadpool* threadpool) : threadpool_(threadpool) {
  if (n_threads <= 0) Fail("thread count must be positive, got ", n_threads);
  backend_ = ggml_backend_cpu_init();
  if (!backend_) Fail("cannot initialise the CPU backend");
  ggml_backend_cpu_set_n_threads(backend_, n_threads);
  // A persistent thread pool, as llama-bench attaches one: no thread start-up per step.
  if (!threadpool_) {
    ggml_threadpool_params tpp = ggml_threadpool_params_default(n_threads);
    threadpool_ = ggml_threadpool_new(&tpp);
    owns_threadpool_ = true;
  }
  if (threadpool_) ggml_backend_cpu_set_threadpool(backend_, threadpool_);
  galloc_ = ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend_));
}

GraphRunner::~GraphRunner() {
  Forget();
  if (galloc_) ggml_gallocr_free(galloc_);
  if (backend_) ggml_backend_free(backend_);
  if (owns_threadpool_ && threadpool_) ggml_threadpool_free(threadpool_);
}

void GraphRunner::Forget() {
  graph_ = ForwardGraph{};
  if (graph_ctx_) ggml_free(graph_ctx_);
  graph_ctx_ = nullptr;
}

const ForwardGraph& GraphRunner::Build(const Model& model, std::vector<SequenceSpec> specs, AttentionKernel kernel) {
  Forget();
  int tokens = 0;
  for (const SequenceSpec& s : specs) tokens += s.n_tokens;
  const size_t max_nodes = ForwardGraphMaxNodes(model.config().n_layer, int(specs.size()));
  graph_meta_.resize(ggml_tensor_overhead() * max_nodes + ggml_graph_overhead_custom(max_nodes, false));
  ggml_init_params ip = {graph_meta_.size(), graph_meta_.data(), /*no_alloc=*/true};
  graph_ctx_ = ggml_init(ip);
  graph_ = BuildForwardGraph(graph_ctx_, model, std::move(specs), kernel);
  if (!ggml_gallocr_alloc_graph(galloc_, graph_.graph)) {
    Fail("cannot allocate compute memory for a batch of ", tokens, " tokens");
  }
  return graph_;
}

void GraphRunner::Compute() {
  const ggml_status st = ggml_backend_graph_compute(backend_, graph_.graph);
  if (st != GGML_STATUS_SUCCESS) Fail("graph compute failed with status ", int(st));
}

size_t GraphRunner::compute_bytes() const { return galloc_ ? ggml_gallocr_get_buffer_size(galloc_, 0) : 0; }

}  // namespace chunkllm
