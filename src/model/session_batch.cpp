#include "model/session_batch.h"

#include <algorithm>

#include "core/error.h"

namespace chunkllm {

SessionBatch::SessionBatch(const Model& model, int n_threads, AttentionKernel kernel, ggml_threadpool* threadpool)
    : model_(model), kernel_(kernel), runner_(n_threads, threadpool) {}

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
    graph_key_.clear();
    std::vector<SequenceSpec> specs;
    for (size_t i = 0; i < N; ++i) specs.push_back(batch[i]->Spec(plans[i]));
    runner_.Build(model_, std::move(specs), kernel_);
    graph_key_ = key;
  }
  const ForwardGraph& graph = runner_.graph();
  std::vector<int32_t> pos(N), out_ids(N);
  for (size_t i = 0; i < N; ++i) pos[i] = plans[i].pos0, out_ids[i] = int32_t(i);
  SetBatchInputs(graph, batch_tokens, pos, out_ids);
  for (size_t i = 0; i < N; ++i) batch[i]->SetInputs(graph.seqs[i], plans[i]);
  runner_.Compute();
  for (size_t i = 0; i < N; ++i) batch[i]->Finish(graph, graph.seqs[i], plans[i], batch[i]->logits_.data());
  return failures;
}

size_t SessionBatch::compute_bytes() const { return runner_.compute_bytes(); }

}  // namespace chunkllm
