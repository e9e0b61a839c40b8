// LogSumExp and LogSoftmax against a long-double reference: values far past float's exp range
// (the shift by the maximum is what keeps them finite), a vocabulary-sized random vector whose
// probabilities must sum to 1, -inf entries (masked candidates) and the empty vector.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/log_softmax.h"

namespace chunkllm {
namespace {

long double Reference(const std::vector<float>& x) {
  long double mx = -INFINITY;
  for (float v : x) mx = std::max(mx, (long double)v);
  long double z = 0;
  for (float v : x) z += std::exp((long double)v - mx);
  return mx + std::log(z);
}

TEST(LogSoftmax, LargeValuesStayFinite) {
  // exp(1000) overflows double as well as float: only a shifted sum gives 1000 + log(1 + e^-1).
  const std::vector<float> x = {1000.0f, 999.0f, -1000.0f};
  const double lz = LogSumExp(x.data(), x.size());
  ASSERT_TRUE(std::isfinite(lz));
  // Three terms, each within a few double ulps of 1000: 1e-12 absolute is ~1000x that.
  EXPECT_NEAR(lz, double(Reference(x)), 1e-12);
  std::vector<double> lp;
  LogSoftmax(x, lp);
  ASSERT_EQ(lp.size(), 3u);
  EXPECT_NEAR(lp[0], -std::log1p(std::exp(-1.0)), 1e-12);
  EXPECT_NEAR(lp[1], -1.0 - std::log1p(std::exp(-1.0)), 1e-12);
}

TEST(LogSoftmax, VocabularySizedSumsToOne) {
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0.0f, 8.0f);
  std::vector<float> x(32000);
  for (float& v : x) v = d(rng);
  std::vector<double> lp;
  LogSoftmax(x, lp);
  double sum = 0;
  for (double v : lp) sum += std::exp(v);
  // 32,000 double terms: the sum's rounding is ~32,000 * 1.1e-16 = 3.6e-12 at worst.
  EXPECT_NEAR(sum, 1.0, 1e-11);
  EXPECT_NEAR(LogSumExp(x.data(), x.size()), double(Reference(x)), 1e-11);
}

TEST(LogSoftmax, NegativeInfinityAndEmpty) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {-inf, 2.0f, -inf, 2.0f};
  EXPECT_NEAR(LogSumExp(x.data(), x.size()), 2.0 + std::log(2.0), 1e-15);
  std::vector<double> lp;
  LogSoftmax(x, lp);
  EXPECT_EQ(lp[0], -INFINITY);
  EXPECT_NEAR(lp[1], -std::log(2.0), 1e-15);
  const std::vector<float> none = {-inf, -inf};
  EXPECT_EQ(LogSumExp(none.data(), none.size()), -INFINITY);
  EXPECT_EQ(LogSumExp(nullptr, 0), -INFINITY);
  LogSoftmax({}, lp);
  EXPECT_TRUE(lp.empty());
}

}  // namespace
}  // namespace chunkllm
