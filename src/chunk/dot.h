// Dot: a . b in f32 for the adapters' CPU products (the Q-Adapter, the score terms).
#pragma once

namespace chunkllm {

// 16 independent partial sums, so the compiler vectorizes it without reassociating: a selection
// runs the Q-Adapter of every layer (D * Da multiply-adds each). The summation order is part of
// the result: every caller that must agree with another uses this one.
inline float Dot(const float* a, const float* b, int n) {
  float acc[16] = {};
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; ++k) acc[k] += a[j + k] * b[j + k];
  float s = 0;
  for (; j < n; ++j) s += a[j] * b[j];
  for (float v : acc) s += v;
  return s;
}

}  // namespace chunkllm
