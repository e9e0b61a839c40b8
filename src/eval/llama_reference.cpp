#include "eval/llama_reference.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "ggml-cpu.h"
#include "llama.h"
#include "text/llama_log.h"

namespace chunkllm {

std::unique_ptr<LlamaReference> LlamaReference::Load(const std::string& path, const ReferenceParams& p) {
  InitLlamaBackend();
  std::unique_ptr<LlamaReference> r(new LlamaReference());
  r->params_ = p;
  llama_model_params mp = llama_model_default_params();
  r->model_ = llama_model_load_from_file(path.c_str(), mp);
  if (!r->model_) Fail(path, ": libllama could not load the model");
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = uint32_t(p.n_ctx);
  cp.n_batch = uint32_t(p.n_batch);
  cp.n_ubatch = uint32_t(p.n_ubatch);
  cp.n_threads = p.n_threads;
  cp.n_threads_batch = p.n_threads;
  cp.type_k = p.kv_type;
  cp.type_v = p.kv_type;
  cp.no_perf = true;
  r->ctx_ = llama_init_from_model(r->model_, cp);
  if (!r->ctx_) Fail(path, ": libllama could not create a context");
  ggml_threadpool_params tpp = ggml_threadpool_params_default(p.n_threads);
  r->threadpool_ = ggml_threadpool_new(&tpp);
  if (r->threadpool_) llama_attach_threadpool(r->ctx_, r->threadpool_, r->threadpool_);
  r->n_vocab_ = llama_vocab_n_tokens(llama_model_get_vocab(r->model_));
  r->logits_.assign(size_t(r->n_vocab_), 0.0f);
  return r;
}

LlamaReference::~LlamaReference() {
  if (ctx_) llama_free(ctx_);
  if (model_) llama_model_free(model_);
  if (threadpool_) ggml_threadpool_free(threadpool_);
}

void LlamaReference::Run(const int32_t* tokens, int n, bool all_outputs, float* out) {
  llama_batch batch = llama_batch_init(n, 0, 1);
  for (int i = 0; i < n; ++i) {
    batch.token[i] = tokens[i];
    batch.pos[i] = n_past_ + i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = all_outputs || i == n - 1;
  }
  batch.n_tokens = n;
  const int rc = llama_decode(ctx_, batch);
  llama_batch_free(batch);
  if (rc != 0) Fail("libllama decode failed with code ", rc);
  n_past_ += n;
  const size_t V = size_t(n_vocab_);
  if (all_outputs) {
    for (int i = 0; i < n; ++i) std::memcpy(out + i * V, llama_get_logits_ith(ctx_, i), V * sizeof(float));
  } else {
    std::memcpy(out, llama_get_logits_ith(ctx_, n - 1), V * sizeof(float));
  }
}

void LlamaReference::Prefill(const std::vector<int32_t>& tokens, std::vector<float>* all_logits) {
  const int n = int(tokens.size());
  const size_t V = size_t(n_vocab_);
  if (all_logits) all_logits->resize(size_t(n) * V);
  for (int b = 0; b < n; b += params_.n_batch) {
    const int m = std::min(params_.n_batch, n - b);
    Run(tokens.data() + b, m, all_logits != nullptr, all_logits ? all_logits->data() + size_t(b) * V : logits_.data());
  }
  if (all_logits && n > 0) std::copy(all_logits->end() - long(V), all_logits->end(), logits_.begin());
}

const std::vector<float>& LlamaReference::Decode(int32_t token) {
  Run(&token, 1, false, logits_.data());
  return logits_;
}

void LlamaReference::Clear() {
  llama_memory_clear(llama_get_memory(ctx_), true);
  n_past_ = 0;
}

}  // namespace chunkllm

namespace chunkllm {

void LlamaReference::Truncate(int n) {
  if (n >= n_past_) return;
  llama_memory_seq_rm(llama_get_memory(ctx_), 0, n, -1);
  n_past_ = n;
}

}  // namespace chunkllm
