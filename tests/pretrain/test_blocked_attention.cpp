// The pretraining attention's hand-written backward (src/train/blocked_attention.cpp) against
// autograd of a naive dense causal softmax attention, and against central finite differences,
// in double precision; and its bf16 path against the f32 reference.
#include <gtest/gtest.h>

#include <ATen/autocast_mode.h>

#include <cmath>

#include "pretrain/blocked_attention.h"
#include "train/gradient_check.h"
#include "pretrain/torch_autocast.inl"

namespace chunkllm {
namespace {

// softmax(q k^T * scale + causal mask) v over the whole (T, T) square: q, k, v (B, H, T, Dh).
torch::Tensor NaiveAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale) {
  const int64_t T = q.size(2);
  const torch::Tensor mask = torch::full({T, T}, -INFINITY, q.options()).triu(1);
  return torch::matmul(torch::softmax(torch::matmul(q, k.transpose(-1, -2)) * scale + mask, -1), v);
}

struct Inputs {
  torch::Tensor q, k, v, w;  // w (B, H, T, Dh): weights of the scalar loss sum(w * out)
};

Inputs RandomInputs(torch::ScalarType dtype, int64_t T, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto r = [&](double sd) {
    return torch::empty({2, 3, T, 8}, torch::TensorOptions().dtype(dtype)).normal_(0.0, sd, gen);
  };
  Inputs in{r(1.0), r(1.0), r(1.0), r(1.0)};
  in.q.requires_grad_(true), in.k.requires_grad_(true), in.v.requires_grad_(true);
  return in;
}

// Max |a - b| over max |b|.
double RelativeMaxError(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>() /
         b.to(torch::kDouble).abs().max().item<double>();
}

TEST(BlockedAttention, MatchesNaiveAttentionAndItsGradientsInDouble) {
  // rows 3 against T 7: two full blocks and a partial one; rows 1 and rows >= T as the edges.
  for (int64_t rows : {int64_t(1), int64_t(3), int64_t(7), int64_t(16)}) {
    Inputs a = RandomInputs(torch::kDouble, 7, 11), b = RandomInputs(torch::kDouble, 7, 11);
    const double scale = 1.0 / std::sqrt(8.0);
    const torch::Tensor out = BlockedCausalAttention(a.q, a.k, a.v, scale, rows);
    const torch::Tensor ref = NaiveAttention(b.q, b.k, b.v, scale);
    (out * a.w).sum().backward();
    (ref * b.w).sum().backward();
    // Both are exact up to rounding: a few hundred double operations per value (~1e-14).
    EXPECT_LT(RelativeMaxError(out, ref), 1e-12) << "rows " << rows;
    EXPECT_LT(RelativeMaxError(a.q.grad(), b.q.grad()), 1e-12) << "dq, rows " << rows;
    EXPECT_LT(RelativeMaxError(a.k.grad(), b.k.grad()), 1e-12) << "dk, rows " << rows;
    EXPECT_LT(RelativeMaxError(a.v.grad(), b.v.grad()), 1e-12) << "dv, rows " << rows;
  }
}

TEST(BlockedAttention, GradientsMatchFiniteDifferencesInDouble) {
  Inputs in = RandomInputs(torch::kDouble, 5, 3);
  const double scale = 0.5;
  auto loss = [&] { return (BlockedCausalAttention(in.q, in.k, in.v, scale, 2) * in.w).sum(); };
  loss().backward();
  // Central differences, h = 1e-6: truncation O(h^2 f''') ~ 1e-12, rounding ~ eps |f| / h ~ 1e-10.
  for (auto [leaf, name] : {std::pair{&in.q, "dq"}, std::pair{&in.k, "dk"}, std::pair{&in.v, "dv"}}) {
    test::ExpectGradientMatches(leaf->data(), leaf->grad(), loss, test::EveryNth(leaf->numel(), 7), {1e-6, 1e-7, 1e-6}, name);
  }
}

TEST(BlockedAttention, Bf16AutocastStaysNearTheF32Reference) {
  Inputs a = RandomInputs(torch::kFloat, 64, 5), b = RandomInputs(torch::kFloat, 64, 5);
  const double scale = 1.0 / std::sqrt(8.0);
  const torch::Tensor out = WithBf16Autocast(true, [&] { return BlockedCausalAttention(a.q, a.k, a.v, scale, 24); });
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
  (out.to(torch::kFloat) * a.w).sum().backward();
  const torch::Tensor ref = NaiveAttention(b.q, b.k, b.v, scale);
  (ref * b.w).sum().backward();
  // bf16 keeps 8 significant bits (relative rounding 2^-9 ~ 0.002); q, k, v, the probabilities
  // and the output are each rounded once, scores of size ~3 turn a 0.002 relative error into
  // ~0.006 absolute in the exponent: a few times 0.002 of the largest value, 3% bounds it with
  // room while a wrong block, mask or transposition errs by O(1).
  EXPECT_LT(RelativeMaxError(out, ref), 0.03);
  EXPECT_LT(RelativeMaxError(a.q.grad(), b.q.grad()), 0.03);
  EXPECT_LT(RelativeMaxError(a.k.grad(), b.k.grad()), 0.03);
  EXPECT_LT(RelativeMaxError(a.v.grad(), b.v.grad()), 0.03);
}

}  // namespace
}  // namespace chunkllm
