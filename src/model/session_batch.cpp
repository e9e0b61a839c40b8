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

std::vector<SessionBatch::Failure> SessionBatch::Decode(const std::vector<Session*>& sessions,
                                                       const std::vector<int32_t>& tokens) {
  if (tokens.size() != sessions.size()) {
    Fail("a batched decode step needs one token per session: ", tokens.size(), " for ", sessions.size());
  }
  for (size_t i = 0; i < sessions.size(); ++i) {
    if (&sessions[i]->model() != &model_) Fail("a batched decode step got a session of another model");
    if (sessions[i]->params().attn_kernel != kernel_) Fail("a batched decode step got a session of other kernels");
    if (std::count(sessions.begin(), sessions.end(), sessions[i]) != 1) Fail("a session appears twice in a batch");
    sessions[i]->CheckDecode(tokens[i]);
  }
  // Each session's policy plans its step; one that cannot (e.g. it evicted what it needs) is left
  // out and reported, the others decode.
  std::vector<Failure> failures;
  std::vector<Session*> batch;
  std::vector<int32_t> batch_tokens;
  std::vector<Session::BatchPlan> plans;
  std::vector<Part> key;
  for (size_t i = 0; i < sessions.size(); ++i) {
    Session& s = *sessions[i];
    try {
      plans.push_back(s.Plan(&tokens[i], 1, 1, s.n_past() + 1));
    } catch (const Error& e) {
      failures.push_back({i, e.what()});
      continue;
    }
    batch.push_back(&s);
    batch_tokens.push_back(tokens[i]);
    key.push_back(Part{s.generation_, s.kv_.released() ? 0 : s.kv_.uid(), plans.back().key});
  }
  const size_t N = batch.size();
  if (N == 0) return failures;
  if (key != graph_key_) {
    if (graph_ctx_) ggml_free(graph_ctx_);
    graph_key_.clear();
    const size_t max_nodes = ForwardGraphMaxNodes(model_.config().n_layer, int(N));
    graph_meta_.resize(ggml_tensor_overhead() * max_nodes + ggml_graph_overhead_custom(max_nodes, false));
    ggml_init_params ip = {graph_meta_.size(), graph_meta_.data(), /*no_alloc=*/true};
    graph_ctx_ = ggml_init(ip);
    std::vector<SequenceSpec> specs;
    for (size_t i = 0; i < N; ++i) specs.push_back(batch[i]->Spec(plans[i]));
    graph_ = BuildForwardGraph(graph_ctx_, model_, std::move(specs), kernel_);
    if (!ggml_gallocr_alloc_graph(galloc_, graph_.graph)) {
      Fail("cannot allocate compute memory for a decode step of ", N, " sessions");
    }
    graph_key_ = key;
  }
  std::vector<int32_t> pos(N), out_ids(N);
  for (size_t i = 0; i < N; ++i) pos[i] = plans[i].pos0, out_ids[i] = int32_t(i);
  SetBatchInputs(graph_, batch_tokens, pos, out_ids);
  for (size_t i = 0; i < N; ++i) batch[i]->SetInputs(graph_.seqs[i], plans[i]);
  const ggml_status st = ggml_backend_graph_compute(backend_, graph_.graph);
  if (st != GGML_STATUS_SUCCESS) Fail("graph compute failed with status ", int(st));
  for (size_t i = 0; i < N; ++i) batch[i]->Finish(graph_, graph_.seqs[i], plans[i], batch[i]->logits_.data());
  return failures;
}

size_t SessionBatch::compute_bytes() const { return galloc_ ? ggml_gallocr_get_buffer_size(galloc_, 0) : 0; }

}  // namespace chunkllm
