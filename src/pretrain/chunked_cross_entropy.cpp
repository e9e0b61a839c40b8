#include "pretrain/chunked_cross_entropy.h"

#include <c10/core/impl/LocalDispatchKeySet.h>

#include <algorithm>

#include "pretrain/torch_autocast.inl"

namespace chunkllm {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

class ChunkedCrossEntropyFn : public torch::autograd::Function<ChunkedCrossEntropyFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& hidden, const Tensor& weight, const Tensor& targets,
                        const Tensor& weights, int64_t rows) {
    // Autocast is switched off inside (it would otherwise recast the f32 log-sum-exps).
    const auto [mm, wide] = AutocastComputeDtypes(hidden);
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
    const Tensor hm = hidden.to(mm), wm = weight.to(mm);
    const int64_t N = hidden.size(0);
    const Tensor w = weights.to(wide).reshape(-1);
    Tensor lse = torch::empty({N}, hidden.options().dtype(wide));
    Tensor loss = torch::zeros({}, hidden.options().dtype(wide));
    for (int64_t s = 0; s < N; s += rows) {
      const int64_t e = std::min(N, s + rows);
      const Tensor logits = torch::matmul(hm.slice(0, s, e), wm.t()).to(wide);  // (e-s, V)
      const Tensor l = logits.logsumexp(-1);
      const Tensor target_logit = logits.gather(1, targets.slice(0, s, e).unsqueeze(1)).squeeze(1);
      loss.add_(((l - target_logit) * w.slice(0, s, e)).sum());
      lse.slice(0, s, e).copy_(l);
    }
    const Tensor w_sum = w.sum();
    ctx->save_for_backward({hm, wm, targets, w, lse, w_sum});
    ctx->saved_data["rows"] = rows;
    ctx->saved_data["hidden_dtype"] = hidden.scalar_type();
    ctx->saved_data["weight_dtype"] = weight.scalar_type();
    return loss / w_sum;
  }

  // With P the chunk's softmax and Y its one-hot targets, the loss's gradient in the logits is
  // G = diag(w) (P - Y) g / sum(w); then d hidden = G W and d W = G^T hidden.
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &hm = saved[0], &wm = saved[1], &targets = saved[2], &w = saved[3], &lse = saved[4], &w_sum = saved[5];
    const int64_t rows = ctx->saved_data["rows"].toInt();
    const at::ScalarType mm = hm.scalar_type(), wide = lse.scalar_type();
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
    const Tensor scale = w * (grads[0].to(wide) / w_sum);  // (N)
    const int64_t N = hm.size(0);
    Tensor d_hidden = torch::empty(hm.sizes(), hm.options().dtype(wide));
    Tensor d_weight = torch::zeros(wm.sizes(), wm.options().dtype(wide));
    for (int64_t s = 0; s < N; s += rows) {
      const int64_t e = std::min(N, s + rows);
      const Tensor hb = hm.slice(0, s, e);
      Tensor g = torch::matmul(hb, wm.t()).to(wide);
      g.sub_(lse.slice(0, s, e).unsqueeze(1)).exp_();  // P
      const Tensor t = targets.slice(0, s, e).unsqueeze(1);
      g.scatter_add_(1, t, torch::full(t.sizes(), -1.0, g.options()));  // P - Y
      g.mul_(scale.slice(0, s, e).unsqueeze(1));
      const Tensor g_mm = g.to(mm);
      d_hidden.slice(0, s, e).copy_(torch::matmul(g_mm, wm));
      d_weight.add_(torch::matmul(g_mm.t(), hb));
    }
    return {d_hidden.to(ctx->saved_data["hidden_dtype"].toScalarType()),
            d_weight.to(ctx->saved_data["weight_dtype"].toScalarType()), Tensor(), Tensor(), Tensor()};
  }
};

}  // namespace

Tensor ChunkedCrossEntropy(const Tensor& hidden, const Tensor& weight, const Tensor& targets, const Tensor& weights,
                           int64_t rows) {
  // (The autograd function takes defined tensors only: no weights are unit weights.)
  const at::ScalarType wide = hidden.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  const Tensor w = weights.defined() ? weights : torch::ones({hidden.size(0)}, hidden.options().dtype(wide));
  return ChunkedCrossEntropyFn::apply(hidden, weight, targets, w, std::max<int64_t>(1, rows));
}

}  // namespace chunkllm
