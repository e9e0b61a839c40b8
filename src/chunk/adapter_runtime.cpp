#include "chunk/adapter_runtime.h"

#include <cmath>

namespace chunkllm {

AdapterRuntime::AdapterRuntime(AdapterSet adapters)
    : a_(std::move(adapters)), D_(a_.base.n_embd), Da_(a_.hp.d_adapter), r_(a_.hp.rank) {
  hidden_.resize(size_t(std::max(Da_, std::max(a_.hp.chunk_hidden, 1))));
}

void AdapterRuntime::Mlp(const std::vector<float>& w1, const std::vector<float>& w2, const float* x,
                         float* out) const {
  for (int i = 0; i < Da_; ++i) {
    const float* row = w1.data() + size_t(i) * D_;
    float s = 0;
    for (int j = 0; j < D_; ++j) s += row[j] * x[j];
    hidden_[size_t(i)] = s / (1.0f + std::exp(-s));  // silu
  }
  for (int o = 0; o < r_; ++o) {
    const float* row = w2.data() + size_t(o) * Da_;
    float s = 0;
    for (int i = 0; i < Da_; ++i) s += row[i] * hidden_[size_t(i)];
    out[o] = s;
  }
}

void AdapterRuntime::Query(int l, const float* x, float* out) const {
  Mlp(a_.layers[size_t(l)].q_w1, a_.layers[size_t(l)].q_w2, x, out);
}

void AdapterRuntime::Key(int l, const float* x, float* out) const {
  Mlp(a_.layers[size_t(l)].k_w1, a_.layers[size_t(l)].k_w2, x, out);
}

float AdapterRuntime::BoundaryProbability(const float* h) const {
  const ChunkAdapterWeights& c = a_.chunk;
  const int H = a_.hp.chunk_hidden;
  double z = 0;
  if (H == 0) {
    for (int j = 0; j < D_; ++j) z += double(c.w1[size_t(j)]) * h[j];
    z += c.b1[0];
  } else {
    for (int i = 0; i < H; ++i) {
      double s = c.b1[size_t(i)];
      for (int j = 0; j < D_; ++j) s += double(c.w1[size_t(i) * D_ + j]) * h[j];
      z += c.w2[size_t(i)] * (s / (1.0 + std::exp(-s)));
    }
    z += c.b2[0];
  }
  return float(1.0 / (1.0 + std::exp(-z)));
}

}  // namespace chunkllm
