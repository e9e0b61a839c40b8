#include "chunk/adapter_graph.h"

#include "chunk/chunk_score.h"
#include "ggml-backend.h"

namespace chunkllm {

void AdapterGraph::AtAttentionInput(ggml_context* ctx, ggml_cgraph* gf, int il, ggml_tensor* x, ggml_tensor* pos) {
  const AdapterGraphWeights& w = a_.tensors().weights();
  ggml_tensor* hidden = ggml_silu(ctx, ggml_mul_mat(ctx, w.key_w1[size_t(il)], x));  // (Da, T)
  ggml_tensor* kf = RotateFeatures(ctx, a_.hp(), ggml_mul_mat(ctx, w.key_w2[size_t(il)], hidden), pos);  // (r, T)
  ggml_set_output(kf);
  key_features_.push_back(kf);
  ggml_build_forward_expand(gf, kf);
}

void AdapterGraph::AtLayer1Output(ggml_context* ctx, ggml_cgraph* gf, ggml_tensor* h1) {
  if (!boundary_) return;
  boundary_parts_ = ggml_mul_mat(ctx, a_.tensors().weights().boundary_w1, h1);  // (n Hc, T)
  ggml_set_output(boundary_parts_);
  ggml_build_forward_expand(gf, boundary_parts_);
}

void AdapterGraph::Read(int n, std::vector<float>& keys, std::vector<float>& parts) const {
  const size_t r = size_t(a_.rank()), L = key_features_.size();
  keys.resize(L * size_t(n) * r);
  for (size_t l = 0; l < L; ++l) {
    ggml_backend_tensor_get(key_features_[l], keys.data() + l * size_t(n) * r, 0, sizeof(float) * size_t(n) * r);
  }
  if (!boundary_) return;
  parts.resize(size_t(n) * size_t(boundary_parts_->ne[0]));
  ggml_backend_tensor_get(boundary_parts_, parts.data(), 0, sizeof(float) * parts.size());
}

}  // namespace chunkllm
