#include "chunk/adapter_runtime.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "chunk/dot.h"

namespace chunkllm {

AdapterRuntime::AdapterRuntime(AdapterSet adapters)
    : a_(std::move(adapters)),
      D_(a_.base.n_embd),
      Da_(a_.hp.d_adapter),
      r_(a_.hp.rank) {
  tensors_ = std::make_unique<AdapterTensors>(a_);
}

// silu(x W1^T) W2^T with W1 (Da, D), W2 (r, Da) row-major.
void AdapterRuntime::Query(int l, const float* x, float* out) const {
  const LayerAdapters& w = a_.layers[size_t(l)];
  std::vector<float> hidden(static_cast<size_t>(Da_));
  for (int i = 0; i < Da_; ++i) {
    const float s = Dot(w.q_w1.data() + size_t(i) * D_, x, D_);
    hidden[size_t(i)] = s / (1.0f + std::exp(-s));  // silu
  }
  for (int o = 0; o < r_; ++o) out[o] = Dot(w.q_w2.data() + size_t(o) * Da_, hidden.data(), Da_);
}

float AdapterRuntime::BoundaryProbabilityFromParts(const float* parts) const {
  const int n = a_.hp.boundary_inputs, Hc = std::max(a_.hp.chunk_hidden, 1);
  std::vector<float> h(static_cast<size_t>(Hc));
  for (int i = 0; i < Hc; ++i) {
    float s = a_.chunk.b1[size_t(i)];
    for (int k = 0; k < n; ++k) s += parts[(size_t(k) * n + size_t(k)) * size_t(Hc) + size_t(i)];
    h[size_t(i)] = s;
  }
  return BoundaryFromPreActivation(h.data());
}

float AdapterRuntime::BoundaryFromPreActivation(const float* pre) const {
  const ChunkAdapterWeights& c = a_.chunk;
  const int H = a_.hp.chunk_hidden;
  float z = pre[0];
  if (H > 0) {
    z = c.b2[0];
    for (int i = 0; i < H; ++i) z += c.w2[size_t(i)] * (pre[i] / (1.0f + std::exp(-pre[i])));
  }
  return 1.0f / (1.0f + std::exp(-z));
}

}  // namespace chunkllm
