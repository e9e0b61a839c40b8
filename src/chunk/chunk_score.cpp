#include "chunk/chunk_score.h"

#include <algorithm>
#include <cmath>

#include "chunk/chunk_distance.h"
#include "chunk/dot.h"
#include "core/log_softmax.h"

namespace chunkllm {

void RotateFeatures(const AdapterHyperParams& hp, int pos, float* f) {
  const int dims = hp.rope_dims;
  if (dims == 0) return;
  const float scale = std::pow(hp.rope_base, -2.0f / float(dims));
  float theta = float(pos);
  for (int i = 0; i < dims; i += 2) {
    const float c = std::cos(theta), s = std::sin(theta), x0 = f[i], x1 = f[i + 1];
    f[i] = x0 * c - x1 * s;
    f[i + 1] = x0 * s + x1 * c;
    theta *= scale;
  }
}

ggml_tensor* RotateFeatures(ggml_context* ctx, const AdapterHyperParams& hp, ggml_tensor* f, ggml_tensor* pos) {
  if (hp.rope_dims == 0) return f;
  // RoPE's normal mode on the first rope_dims features, one "head" of r per token: (r, 1, T).
  const int64_t r = f->ne[0], T = f->ne[1];
  f = ggml_rope_ext(ctx, ggml_reshape_3d(ctx, f, r, 1, T), pos, nullptr, hp.rope_dims, GGML_ROPE_TYPE_NORMAL, 0,
                    hp.rope_base, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f);
  return ggml_reshape_2d(ctx, f, r, T);
}

float DistanceBias(const AdapterSet& a, int l, int distance) {
  const int B = a.hp.distance_buckets;
  return B > 0 ? a.layers[size_t(l)].distance_bias[size_t(ChunkDistanceBucket(distance, B))] : 0.0f;
}

float QueryDistanceScore(const AdapterSet& a, int l, int distance, const float* q) {
  if (!a.hp.query_distance) return 0.0f;
  const int r = a.hp.rank, bucket = ChunkDistanceBucket(distance, a.hp.distance_buckets);
  return Dot(a.layers[size_t(l)].distance_query.data() + size_t(bucket) * size_t(r), q, r) / std::sqrt(float(r));
}

float LengthBias(const AdapterSet& a, int l, int tokens) {
  return a.hp.length_bias ? a.layers[size_t(l)].length_weight[0] * std::log(float(tokens)) : 0.0f;
}

float LogFeatureScore(const AdapterSet& a, int l, int tokens, int token_distance, const float* q) {
  if (!a.hp.query_features) return 0.0f;
  const int r = a.hp.rank;
  const LayerAdapters& w = a.layers[size_t(l)];
  const float inv_sqrt_r = 1.0f / std::sqrt(float(r));
  const float len_coef = Dot(w.feature_query.data(), q, r) * inv_sqrt_r;
  const float dist_coef = w.distance_weight[0] + Dot(w.feature_query.data() + r, q, r) * inv_sqrt_r;
  return len_coef * std::log(float(tokens)) + dist_coef * std::log(float(std::max(token_distance, 1)));
}

void ChunkLogProbs(const std::vector<float>& logits, int G, std::vector<float>& out) {
  if (G == 1) {
    out = logits;
    return;
  }
  const size_t n = logits.size() / size_t(G);
  out.assign(n, 0.0f);
  if (n == 0) return;
  // log_softmax of each group, then a max-shifted log-sum-exp over the groups.
  std::vector<double> lp(logits.size());
  for (int g = 0; g < G; ++g) {
    const float* x = logits.data() + size_t(g) * n;
    const double lz = LogSumExp(x, n);
    for (size_t i = 0; i < n; ++i) lp[size_t(g) * n + i] = double(x[i]) - lz;
  }
  for (size_t i = 0; i < n; ++i) {
    double mx = -INFINITY, z = 0;
    for (int g = 0; g < G; ++g) mx = std::max(mx, lp[size_t(g) * n + i]);
    for (int g = 0; g < G; ++g) z += std::exp(lp[size_t(g) * n + i] - mx);
    out[i] = float(mx + std::log(z / double(G)));
  }
}

SummedQueries SumQueries(const AdapterSet& a, const ChunkQueries& queries) {
  const size_t r = size_t(a.hp.rank);
  std::vector<float> rotated(queries.q, queries.q + size_t(queries.n_q) * r);
  for (int iq = 0; iq < queries.n_q; ++iq) RotateFeatures(a.hp, queries.positions[iq], rotated.data() + size_t(iq) * r);
  return SumQueries(a.hp.rank, queries.n_q, queries.q, rotated.data());
}

SummedQueries SumQueries(int r, int n_q, const float* features, const float* rotated) {
  SummedQueries s;
  s.n_q = n_q;
  s.mean.assign(size_t(r), 0.0f);
  s.rotated_sum.assign(size_t(r), 0.0f);
  for (int iq = 0; iq < n_q; ++iq)
    for (int e = 0; e < r; ++e) {
      s.mean[size_t(e)] += features[size_t(iq) * size_t(r) + size_t(e)] / float(n_q);
      s.rotated_sum[size_t(e)] += rotated[size_t(iq) * size_t(r) + size_t(e)];
    }
  return s;
}

void ChunkScores(const AdapterSet& a, int l, const ChunkQueries& queries, const float* keys, const ChunkCandidates& cand,
                 std::vector<float>& out) {
  ChunkScores(a, l, SumQueries(a, queries), keys, cand, out);
}

void ChunkScores(const AdapterSet& a, int l, const SummedQueries& queries, const float* keys,
                 const ChunkCandidates& cand, std::vector<float>& out) {
  const int r = a.hp.rank, G = a.hp.score_groups, rg = r / G;
  const size_t n = cand.chunk.size();
  // q . k of the mean query (no query yet: the terms only).
  const float scale = queries.n_q > 0 ? 1.0f / std::sqrt(float(rg)) / float(queries.n_q) : 0.0f;
  const float* q = queries.rotated_sum.data();
  std::vector<float> logits(n * size_t(G));  // (G, n)
  for (size_t i = 0; i < n; ++i) {
    const float* k = keys + size_t(cand.chunk[i]) * size_t(r);
    const float terms = DistanceBias(a, l, cand.distance[i]) + QueryDistanceScore(a, l, cand.distance[i], queries.mean.data()) +
                        LengthBias(a, l, cand.tokens[i]) +
                        LogFeatureScore(a, l, cand.tokens[i], cand.token_distance[i], queries.mean.data());
    for (int g = 0; g < G; ++g) {
      float d = 0;
      for (int e = g * rg; e < (g + 1) * rg; ++e) d += q[e] * k[e];
      logits[size_t(g) * n + i] = d * scale + terms;
    }
  }
  ChunkLogProbs(logits, G, out);
}

}  // namespace chunkllm
