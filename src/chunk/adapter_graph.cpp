#include "chunk/adapter_graph.h"

#include "chunk/chunk_score.h"
#include "ggml-backend.h"

namespace chunkllm {
namespace {

// The sparse-prefill node: src = the batch's queries (r, T), rotated (r, T), and the nodes that
// wrote its K/V (for order only); dst = the mask (n_kv, T).
void PrefillGatherOp(ggml_tensor* dst, int ith, int, void* userdata) {
  if (ith != 0) return;
  const auto* call = static_cast<const AdapterGraph::PrefillCall*>(userdata);
  const ggml_tensor* features = dst->src[0];
  call->gatherer->GatherLayer(call->layer, static_cast<const float*>(features->data),
                              static_cast<const float*>(dst->src[1]->data), int(features->ne[1]), int(dst->ne[0]),
                              static_cast<ggml_fp16_t*>(dst->data));
}

}  // namespace

AdapterGraph::AdapterGraph(const AdapterRuntime& adapters, bool boundary, PrefillGatherer* gatherer)
    : a_(adapters), boundary_(boundary), gatherer_(gatherer) {
  prefill_calls_.reserve(a_.tensors().weights().key_w1.size());
}

ggml_tensor* AdapterGraph::SparsePrefillMask(ggml_context* ctx, ggml_cgraph* gf, int il, ggml_tensor* x,
                                             ggml_tensor* pos, ggml_tensor* written_k, ggml_tensor* written_v,
                                             int n_kv) {
  if (!gatherer_) return nullptr;
  const AdapterGraphWeights& w = a_.tensors().weights();
  ggml_tensor* hidden = ggml_silu(ctx, ggml_mul_mat(ctx, w.query_w1[size_t(il)], x));  // (Da, T)
  ggml_tensor* features = ggml_mul_mat(ctx, w.query_w2[size_t(il)], hidden);          // (r, T)
  ggml_tensor* rotated = RotateFeatures(ctx, a_.hp(), features, pos);                  // (r, T)
  prefill_calls_.push_back(PrefillCall{gatherer_, il});  // reserved: the address stays
  ggml_tensor* args[] = {features, rotated, written_k, written_v};
  ggml_tensor* mask = ggml_custom_4d(ctx, GGML_TYPE_F16, n_kv, x->ne[1], 1, 1, args, 4, PrefillGatherOp,
                                     /*n_tasks=*/1, &prefill_calls_.back());
  ggml_build_forward_expand(gf, mask);
  return mask;
}

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
