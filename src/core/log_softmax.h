// Normalising scores into log-probabilities: log-sum-exp and log-softmax, max-shifted and summed
// in double. Used for the vocabulary (eval's KL and answer agreement, over ~32K logits, where
// float sums would leave ~1e-7 of noise a term) and for chunk scores (chunk/: the groups of a
// prefill micro-batch, the score groups of an adapter query), so there is one definition.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace chunkllm {

// log(sum_i exp(x_i)) of x (n), shifted by its maximum; -inf when n == 0 or every x_i is -inf.
inline double LogSumExp(const float* x, size_t n) {
  double mx = -INFINITY;
  for (size_t i = 0; i < n; ++i) mx = std::fmax(mx, double(x[i]));
  if (!std::isfinite(mx)) return mx;
  double z = 0;
  for (size_t i = 0; i < n; ++i) z += std::exp(double(x[i]) - mx);
  return mx + std::log(z);
}

// out_i = x_i - LogSumExp(x), in double (out is resized to x's size).
inline void LogSoftmax(const std::vector<float>& x, std::vector<double>& out) {
  const double lz = LogSumExp(x.data(), x.size());
  out.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = double(x[i]) - lz;
}

}  // namespace chunkllm
