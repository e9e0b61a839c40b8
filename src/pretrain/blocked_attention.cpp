#include "pretrain/blocked_attention.h"

#include <c10/core/impl/LocalDispatchKeySet.h>

#include <cmath>

#include "pretrain/torch_autocast.inl"

namespace chunkllm {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Block [s, e) of the queries against keys [0, e): scores in the wide dtype, scaled and causally
// masked (only the last (e - s) keys of the block can lie in the future of a query row).
// qb (B, H, e-s, Dh), k0e (B, H, e, Dh) -> (B, H, e-s, e).
Tensor MaskedScores(const Tensor& qb, const Tensor& k0e, double scale, at::ScalarType wide) {
  const int64_t r = qb.size(2), e = k0e.size(2);
  Tensor s = torch::matmul(qb, k0e.transpose(-1, -2)).to(wide).mul_(scale);
  const Tensor future = torch::full({r, r}, -INFINITY, s.options()).triu(1);
  s.slice(-1, e - r, e).add_(future);
  return s;
}

class BlockedCausalAttentionFn : public torch::autograd::Function<BlockedCausalAttentionFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                        int64_t rows) {
    // Autocast is switched off inside (it would otherwise recast the f32 probabilities).
    const auto [mm, wide] = AutocastComputeDtypes(q);
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
    const Tensor qm = q.to(mm), km = k.to(mm), vm = v.to(mm);
    const int64_t T = q.size(2);
    Tensor out = torch::empty(q.sizes(), q.options().dtype(mm));
    Tensor lse = torch::empty({q.size(0), q.size(1), T, 1}, q.options().dtype(wide));  // (B, H, T, 1)
    for (int64_t s = 0; s < T; s += rows) {
      const int64_t e = std::min(T, s + rows);
      Tensor p = MaskedScores(qm.slice(2, s, e), km.slice(2, 0, e), scale, wide);
      const Tensor l = p.logsumexp(-1, true);
      p.sub_(l).exp_();  // softmax, (B, H, e-s, e)
      out.slice(2, s, e).copy_(torch::matmul(p.to(mm), vm.slice(2, 0, e)));
      lse.slice(2, s, e).copy_(l);
    }
    ctx->save_for_backward({qm, km, vm, out, lse});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["rows"] = rows;
    ctx->saved_data["q_dtype"] = q.scalar_type();
    ctx->saved_data["k_dtype"] = k.scalar_type();
    ctx->saved_data["v_dtype"] = v.scalar_type();
    return out;
  }

  // With P the block's probabilities and dO the output gradient:
  //   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dO * O)) * scale,  dQ = dS K,  dK = dS^T Q.
  // rowsum(dO * O) equals rowsum(P * dP) (O = P V), the softmax backward's correction term.
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &qm = saved[0], &km = saved[1], &vm = saved[2], &out = saved[3], &lse = saved[4];
    const double scale = ctx->saved_data["scale"].toDouble();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    const at::ScalarType mm = qm.scalar_type(), wide = lse.scalar_type();
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
    const Tensor d_out = grads[0].to(wide);
    const Tensor d_out_mm = d_out.to(mm);
    const Tensor correction = (d_out * out.to(wide)).sum(-1, true);  // (B, H, T, 1)
    Tensor dq = torch::empty(qm.sizes(), qm.options().dtype(wide));
    Tensor dk = torch::zeros(km.sizes(), km.options().dtype(wide));
    Tensor dv = torch::zeros(vm.sizes(), vm.options().dtype(wide));
    const int64_t T = qm.size(2);
    for (int64_t s = 0; s < T; s += rows) {
      const int64_t e = std::min(T, s + rows);
      const Tensor qb = qm.slice(2, s, e), k0e = km.slice(2, 0, e), v0e = vm.slice(2, 0, e);
      const Tensor dob = d_out_mm.slice(2, s, e);
      Tensor p = MaskedScores(qb, k0e, scale, wide).sub_(lse.slice(2, s, e)).exp_();
      const Tensor p_mm = p.to(mm);
      dv.slice(2, 0, e).add_(torch::matmul(p_mm.transpose(-1, -2), dob));
      Tensor ds = torch::matmul(dob, v0e.transpose(-1, -2)).to(wide);
      ds.sub_(correction.slice(2, s, e)).mul_(p).mul_(scale);
      const Tensor ds_mm = ds.to(mm);
      dq.slice(2, s, e).copy_(torch::matmul(ds_mm, k0e));
      dk.slice(2, 0, e).add_(torch::matmul(ds_mm.transpose(-1, -2), qb));
    }
    return {dq.to(ctx->saved_data["q_dtype"].toScalarType()), dk.to(ctx->saved_data["k_dtype"].toScalarType()),
            dv.to(ctx->saved_data["v_dtype"].toScalarType()), Tensor(), Tensor()};
  }
};

}  // namespace

Tensor BlockedCausalAttention(const Tensor& q, const Tensor& k, const Tensor& v, double scale, int64_t rows) {
  return BlockedCausalAttentionFn::apply(q, k, v, scale, rows);
}

}  // namespace chunkllm
