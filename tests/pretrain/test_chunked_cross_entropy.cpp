// The chunked tied-output cross-entropy: value and gradients equal autograd of the plain
// (N, V) logits path in double for any chunk size, with and without token weights; central
// finite differences agree; the bf16 path stays near the f32 reference.
#include <gtest/gtest.h>

#include <cmath>

#include "pretrain/chunked_cross_entropy.h"
#include "train/gradient_check.h"
#include "pretrain/torch_autocast.inl"

namespace chunkllm {
namespace {

struct Inputs {
  torch::Tensor hidden, weight, targets, weights;  // (N, D), (V, D), (N), (N)
};

Inputs RandomInputs(torch::ScalarType dtype, int64_t N, int64_t D, int64_t V, uint64_t seed) {
  torch::manual_seed(seed);
  Inputs in;
  in.hidden = torch::randn({N, D}, dtype).requires_grad_(true);
  in.weight = (torch::randn({V, D}, dtype) * 0.5).detach().requires_grad_(true);
  in.targets = torch::randint(V, {N}, torch::kLong);
  in.weights = torch::rand({N}, dtype) * 3.0 + 0.5;
  return in;
}

// The reference: all logits at once, per-row cross-entropy, weighted mean.
torch::Tensor PlainLoss(const Inputs& in, bool weighted) {
  const torch::Tensor ce = torch::cross_entropy_loss(torch::matmul(in.hidden, in.weight.t()), in.targets, {},
                                                     at::Reduction::None);
  return weighted ? (ce * in.weights).sum() / in.weights.sum() : ce.mean();
}

double RelativeMaxError(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

TEST(ChunkedCrossEntropy, MatchesThePlainLossAndItsGradientsInDouble) {
  for (bool weighted : {false, true}) {
    for (int64_t rows : {1, 3, 7, 11, 64}) {  // 11 rows: chunks of 1, 3 and 7 leave a partial one
      Inputs a = RandomInputs(torch::kDouble, 11, 6, 13, 1), b = RandomInputs(torch::kDouble, 11, 6, 13, 1);
      const torch::Tensor la = ChunkedCrossEntropy(a.hidden, a.weight, a.targets, weighted ? a.weights : torch::Tensor(), rows);
      const torch::Tensor lb = PlainLoss(b, weighted);
      la.backward(), lb.backward();
      const std::string what = std::string(weighted ? "weighted" : "mean") + ", rows " + std::to_string(rows);
      EXPECT_NEAR(la.item<double>(), lb.item<double>(), 1e-12 * lb.item<double>()) << what;
      EXPECT_LT(RelativeMaxError(a.hidden.grad(), b.hidden.grad()), 1e-12) << "d hidden, " << what;
      EXPECT_LT(RelativeMaxError(a.weight.grad(), b.weight.grad()), 1e-12) << "d weight, " << what;
    }
  }
}

TEST(ChunkedCrossEntropy, GradientsMatchFiniteDifferencesInDouble) {
  Inputs in = RandomInputs(torch::kDouble, 7, 5, 9, 2);
  auto loss = [&] { return ChunkedCrossEntropy(in.hidden, in.weight, in.targets, in.weights, 3); };
  loss().backward();
  // Central differences, h = 1e-6: truncation O(h^2 f''') ~ 1e-12, rounding ~ eps |f| / h ~ 1e-10.
  test::ExpectGradientMatches(in.hidden.data(), in.hidden.grad(), loss, test::EveryNth(in.hidden.numel()), {1e-6, 1e-7, 1e-6},
                              "d hidden");
  test::ExpectGradientMatches(in.weight.data(), in.weight.grad(), loss, test::EveryNth(in.weight.numel(), 2),
                              {1e-6, 1e-7, 1e-6}, "d weight");
}

// bf16 matmuls (8 significant bits) against the f32 reference: logits of magnitude ~3 carry
// errors ~3 * 2^-8 ~ 0.01, so the loss agrees to ~1% and the gradients to a few %.
TEST(ChunkedCrossEntropy, Bf16AutocastStaysNearTheF32Reference) {
  Inputs a = RandomInputs(torch::kFloat, 96, 32, 500, 3), b = RandomInputs(torch::kFloat, 96, 32, 500, 3);
  const torch::Tensor la = WithBf16Autocast(true, [&] { return ChunkedCrossEntropy(a.hidden, a.weight, a.targets, a.weights, 40); });
  EXPECT_EQ(la.scalar_type(), torch::kFloat);
  const torch::Tensor lb = PlainLoss(b, true);
  la.backward(), lb.backward();
  EXPECT_NEAR(la.item<double>(), lb.item<double>(), 1e-2 * lb.item<double>());
  EXPECT_LT(RelativeMaxError(a.hidden.grad(), b.hidden.grad()), 3e-2);
  EXPECT_LT(RelativeMaxError(a.weight.grad(), b.weight.grad()), 3e-2);
  EXPECT_EQ(a.hidden.grad().scalar_type(), torch::kFloat);
}

}  // namespace
}  // namespace chunkllm
