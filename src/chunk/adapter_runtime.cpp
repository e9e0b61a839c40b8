#include "chunk/adapter_runtime.h"

#include <algorithm>
#include <cmath>

#include "chunk/chunk_distance.h"

namespace chunkllm {
namespace {

// a . b in f32 with 16 independent partial sums, so the compiler vectorizes it without
// reassociating: a selection runs the Q-Adapter of every layer (D * Da multiply-adds each).
float Dot(const float* a, const float* b, int n) {
  float acc[16] = {};
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; ++k) acc[k] += a[j + k] * b[j + k];
  float s = 0;
  for (; j < n; ++j) s += a[j] * b[j];
  for (float v : acc) s += v;
  return s;
}

}  // namespace

AdapterRuntime::AdapterRuntime(AdapterSet adapters)
    : a_(std::move(adapters)),
      D_(a_.base.n_embd),
      Da_(a_.hp.d_adapter),
      r_(a_.hp.rank) {
  hidden_.resize(size_t(std::max(Da_, std::max(a_.hp.chunk_hidden, 1))));
  tensors_ = std::make_unique<AdapterTensors>(a_);
}

// silu(x W1^T) W2^T with W1 (Da, D), W2 (r, Da) row-major.
void AdapterRuntime::Query(int l, const float* x, float* out) const {
  const LayerAdapters& w = a_.layers[size_t(l)];
  for (int i = 0; i < Da_; ++i) {
    const float s = Dot(w.q_w1.data() + size_t(i) * D_, x, D_);
    hidden_[size_t(i)] = s / (1.0f + std::exp(-s));  // silu
  }
  for (int o = 0; o < r_; ++o) out[o] = Dot(w.q_w2.data() + size_t(o) * Da_, hidden_.data(), Da_);
}

void AdapterRuntime::RotateQuery(int pos, float* q) const {
  const int dims = a_.hp.rope_dims;
  if (dims == 0) return;
  const float scale = std::pow(a_.hp.rope_base, -2.0f / float(dims));
  float theta = float(pos);
  for (int i = 0; i < dims; i += 2) {
    const float c = std::cos(theta), s = std::sin(theta), x0 = q[i], x1 = q[i + 1];
    q[i] = x0 * c - x1 * s;
    q[i + 1] = x0 * s + x1 * c;
    theta *= scale;
  }
}

float AdapterRuntime::LengthBias(int l, int tokens) const {
  return a_.hp.length_bias ? a_.layers[size_t(l)].length_weight[0] * std::log(float(tokens)) : 0.0f;
}

float AdapterRuntime::DistanceBias(int l, int distance) const {
  const int B = a_.hp.distance_buckets;
  return B > 0 ? a_.layers[size_t(l)].distance_bias[size_t(ChunkDistanceBucket(distance, B))] : 0.0f;
}

float AdapterRuntime::QueryDistanceScore(int l, int distance, const float* q) const {
  if (!a_.hp.query_distance) return 0.0f;
  const int bucket = ChunkDistanceBucket(distance, a_.hp.distance_buckets);
  return Dot(a_.layers[size_t(l)].distance_query.data() + size_t(bucket) * size_t(r_), q, r_) / std::sqrt(float(r_));
}

float AdapterRuntime::LogFeatureScore(int l, int tokens, int token_distance, const float* q) const {
  if (!a_.hp.query_features) return 0.0f;
  const LayerAdapters& w = a_.layers[size_t(l)];
  const float inv_sqrt_r = 1.0f / std::sqrt(float(r_));
  const float len_coef = Dot(w.feature_query.data(), q, r_) * inv_sqrt_r;
  const float dist_coef = w.distance_weight[0] + Dot(w.feature_query.data() + r_, q, r_) * inv_sqrt_r;
  return len_coef * std::log(float(tokens)) + dist_coef * std::log(float(std::max(token_distance, 1)));
}

float AdapterRuntime::BoundaryProbabilityFromParts(const float* parts) const {
  const int n = a_.hp.boundary_inputs, Hc = std::max(a_.hp.chunk_hidden, 1);
  for (int i = 0; i < Hc; ++i) {
    float s = a_.chunk.b1[size_t(i)];
    for (int k = 0; k < n; ++k) s += parts[(size_t(k) * n + size_t(k)) * size_t(Hc) + size_t(i)];
    hidden_[size_t(i)] = s;
  }
  return BoundaryFromPreActivation(hidden_.data());
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

void MixtureLogProbs(const std::vector<float>& logits, int G, std::vector<float>& out) {
  const size_t n = logits.size() / size_t(G);
  out.assign(n, 0.0f);
  if (n == 0) return;
  // log_softmax of each group (max-shifted), then a max-shifted log-sum-exp over the groups.
  std::vector<double> lp(logits.size());
  for (int g = 0; g < G; ++g) {
    const float* x = logits.data() + size_t(g) * n;
    const double mx = *std::max_element(x, x + n);
    double z = 0;
    for (size_t i = 0; i < n; ++i) z += std::exp(double(x[i]) - mx);
    for (size_t i = 0; i < n; ++i) lp[size_t(g) * n + i] = double(x[i]) - mx - std::log(z);
  }
  for (size_t i = 0; i < n; ++i) {
    double mx = -INFINITY, z = 0;
    for (int g = 0; g < G; ++g) mx = std::max(mx, lp[size_t(g) * n + i]);
    for (int g = 0; g < G; ++g) z += std::exp(lp[size_t(g) * n + i] - mx);
    out[i] = float(mx + std::log(z / double(G)));
  }
}

}  // namespace chunkllm
