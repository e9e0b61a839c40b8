// Learning rate: linear warm-up to lr, then a cosine down to min_lr at step `total`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace chunkllm {

inline double CosineLearningRate(int64_t step, int64_t total, int64_t warmup, double lr, double min_lr) {
  if (step < warmup) return lr * double(step + 1) / double(warmup);
  const double t = double(step - warmup) / double(std::max<int64_t>(1, total - warmup));
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * std::min(1.0, t)));
}

}  // namespace chunkllm
