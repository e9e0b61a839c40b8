#include "model/session_batch.h"

#include <algorithm>

#include "core/error.h"
#include "ggml-cpu.h"

namespace chunkllm {

SessionBatch::SessionBatch(const Model& model, int n_threads, AttentionKernel kernel, ggml_threadpool* threadpool)
    : model_(model), kernel_(kernel), threadpool_(threadpool) {
  if (n_threads <= 0) Fail("thread count must be positive, got ", n_threads);
  backend_ = ggml_backend_cpu_init();
  if (!backend_) Fail("cannot initialise the CPU backend");
  ggml_backend_cpu_set_n_threads(backend_, n_threads);
  if (!threadpool_) {
    ggml_threadpool_params tpp = ggml_threadpool_params_default(n_threads);
    threadpool_ = ggml_threadpool_new(&tpp);
    owns_threadpool_ = true;
  }
  if (threadpool_) ggml_backend_cpu_set_threadpool(backend_, threadpool_);
  galloc_ = ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend_));
}

SessionBatch::~SessionBatch() {
  if (graph_ctx_) ggml_free(graph_ctx_);
  if (galloc_) ggml_gallocr_free(galloc_);
  if (backend_) ggml_backend_free(backend_);
  if (owns_threadpool_ && threadpool_) ggml_threadpool_free(threadpool_);
}

void SessionBatch::Decode(const std::vector<Session*>& sessions, const std::vector<int32_t>& tokens) {
  const size_t N = sessions.size();
  if (N == 0) return;
  if (tokens.size() != N) Fail("a batched decode step needs one token per session: ", tokens.size(), " for ", N);
  for (size_t i = 0; i < N; ++i) {
    if (&sessions[i]->model() != &model_) Fail("a batched decode step got a session of another model");
    if (std::count(sessions.begin(), sessions.end(), sessions[i]) != 1) Fail("a session appears twice in a batch");
    sessions[i]->CheckDecode(tokens[i]);
  }
  std::vector<Session::BatchPlan> plans;
  std::vector<Part> key;
  for (size_t i = 0; i < N; ++i) {
    plans.push_back(sessions[i]->Plan(&tokens[i], 1, 1, sessions[i]->n_past() + 1));
    key.push_back(Part{sessions[i], sessions[i]->policy_epoch_, plans.back().key, sessions[i]->kv_.released() ? nullptr : sessions[i]->kv_.k(0)});
  }
  if (key != graph_key_) {
    if (graph_ctx_) ggml_free(graph_ctx_);
    graph_key_.clear();
    const size_t max_nodes = ForwardGraphMaxNodes(model_.config().n_layer, int(N));
    graph_meta_.resize(ggml_tensor_overhead() * max_nodes + ggml_graph_overhead_custom(max_nodes, false));
    ggml_init_params ip = {graph_meta_.size(), graph_meta_.data(), /*no_alloc=*/true};
    graph_ctx_ = ggml_init(ip);
    std::vector<SequenceSpec> specs;
    for (size_t i = 0; i < N; ++i) specs.push_back(sessions[i]->Spec(plans[i]));
    graph_ = BuildForwardGraph(graph_ctx_, model_, std::move(specs), kernel_);
    if (!ggml_gallocr_alloc_graph(galloc_, graph_.graph)) {
      Fail("cannot allocate compute memory for a decode step of ", N, " sessions");
    }
    graph_key_ = key;
  }
  std::vector<int32_t> pos(N), out_ids(N);
  for (size_t i = 0; i < N; ++i) pos[i] = plans[i].pos0, out_ids[i] = int32_t(i);
  SetBatchInputs(graph_, tokens, pos, out_ids);
  for (size_t i = 0; i < N; ++i) sessions[i]->SetInputs(graph_.seqs[i], plans[i]);
  const ggml_status st = ggml_backend_graph_compute(backend_, graph_.graph);
  if (st != GGML_STATUS_SUCCESS) Fail("graph compute failed with status ", int(st));
  for (size_t i = 0; i < N; ++i) sessions[i]->Finish(graph_, graph_.seqs[i], plans[i], sessions[i]->logits_.data());
}

}  // namespace chunkllm
