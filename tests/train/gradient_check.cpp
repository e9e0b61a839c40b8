#include "train/gradient_check.h"

#include <gtest/gtest.h>

#include <cmath>

namespace chunkllm::test {

void ExpectGradientMatches(torch::Tensor values, const torch::Tensor& grad, const std::function<torch::Tensor()>& loss,
                           const std::vector<int64_t>& elements, const FiniteDifference& fd, const std::string& what) {
  ASSERT_EQ(values.scalar_type(), torch::kDouble) << what << ": finite differences need double";
  ASSERT_TRUE(grad.defined()) << what << ": no gradient (is it on the loss's path?)";
  torch::NoGradGuard no_grad;
  torch::Tensor flat = values.view(-1);
  const torch::Tensor g = grad.reshape(-1);
  for (int64_t i : elements) {
    const double orig = flat[i].item<double>();
    flat[i] = orig + fd.h;
    const double up = loss().item<double>();
    flat[i] = orig - fd.h;
    const double down = loss().item<double>();
    flat[i] = orig;
    const double want = (up - down) / (2 * fd.h);
    EXPECT_NEAR(g[i].item<double>(), want, fd.abs_tol + fd.rel_tol * std::fabs(want)) << what << ", element " << i;
  }
}

std::vector<int64_t> EveryNth(int64_t n, int64_t stride) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; i += stride) out.push_back(i);
  return out;
}

}  // namespace chunkllm::test
