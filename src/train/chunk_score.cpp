#include "train/chunk_score.h"

#include <cmath>

#include "chunk/chunk_distance.h"
#include "core/error.h"
#include "train/adapter_losses.h"
#include "train/adapter_model.h"

namespace chunkllm {

torch::Tensor DistanceBuckets(const ChunkPartition& p, int n_buckets) {
  const int64_t T = int64_t(p.chunk_of.size()), C = p.n_chunks();
  std::vector<int64_t> b(size_t(T * C), 0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < p.n_candidates(int(t)); ++c)
      b[size_t(t * C + c)] = ChunkDistanceBucket(p.chunk_of[size_t(t)] - int(c), n_buckets);
  return torch::tensor(b, torch::kLong).view({T, C});
}

torch::Tensor DistanceBias(const torch::Tensor& layer_bias, const torch::Tensor& buckets) {
  return layer_bias.index_select(1, buckets.reshape({-1})).view({layer_bias.size(0), buckets.size(0), buckets.size(1)});
}

torch::Tensor LengthBias(const torch::Tensor& w, const ChunkPartition& chunks) {
  std::vector<float> log_len;
  for (int c = 0; c < chunks.n_chunks(); ++c) log_len.push_back(std::log(float(chunks.end[size_t(c)] - chunks.begin[size_t(c)])));
  return w.view({-1, 1, 1}) * torch::tensor(log_len, w.options()).view({1, 1, -1});
}

torch::Tensor QueryDistanceScore(const torch::Tensor& query, const torch::Tensor& emb, const torch::Tensor& buckets) {
  const torch::Tensor qe = torch::matmul(query, emb.transpose(1, 2)) * (1.0 / std::sqrt(double(query.size(2))));  // (L, T, B)
  return qe.gather(2, buckets.unsqueeze(0).expand({qe.size(0), -1, -1}));  // (L, T, C)
}

torch::Tensor RotateFeatures(const torch::Tensor& f, int dims, double base) {
  if (dims == 0) return f;
  const int64_t T = f.size(1), half = dims / 2;
  const auto opt = torch::TensorOptions().dtype(torch::kDouble);
  const torch::Tensor theta = torch::pow(base, -2.0 * torch::arange(half, opt) / double(dims));  // (half)
  const torch::Tensor angle = (torch::arange(T, opt).unsqueeze(1) * theta.unsqueeze(0)).to(f.dtype());  // (T, half)
  const torch::Tensor cos = angle.cos().unsqueeze(0), sin = angle.sin().unsqueeze(0);  // (1, T, half)
  const torch::Tensor pairs = f.slice(2, 0, dims).view({f.size(0), T, half, 2});
  const torch::Tensor x0 = pairs.select(3, 0), x1 = pairs.select(3, 1);
  const torch::Tensor rotated = torch::stack({x0 * cos - x1 * sin, x0 * sin + x1 * cos}, 3).view({f.size(0), T, dims});
  return dims == f.size(2) ? rotated : torch::cat({rotated, f.slice(2, dims)}, 2);
}

torch::Tensor LogFeatures(const ChunkPartition& p) {
  const int64_t T = int64_t(p.chunk_of.size()), C = p.n_chunks();
  std::vector<float> f(size_t(T * C * 2), 0.0f);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < p.n_candidates(int(t)); ++c) {
      f[size_t((t * C + c) * 2)] = std::log(float(p.end[size_t(c)] - p.begin[size_t(c)]));
      f[size_t((t * C + c) * 2 + 1)] = std::log(float(t - (p.end[size_t(c)] - 1)));
    }
  return torch::tensor(f).view({T, C, 2});
}

torch::Tensor LogFeatureScore(const torch::Tensor& query, const torch::Tensor& emb, const torch::Tensor& w,
                              const torch::Tensor& f) {
  const double scale = 1.0 / std::sqrt(double(query.size(2)));
  const torch::Tensor qe = torch::matmul(query, emb.transpose(1, 2)) * scale;  // (L, T, 2)
  const torch::Tensor len_coef = qe.select(2, 0).unsqueeze(2);                     // (L, T, 1)
  const torch::Tensor dist_coef = (qe.select(2, 1) + w.view({-1, 1})).unsqueeze(2);  // (L, T, 1)
  const torch::Tensor fo = f.to(query.dtype());
  return len_coef * fo.select(2, 0).unsqueeze(0) + dist_coef * fo.select(2, 1).unsqueeze(0);
}

torch::Tensor ChunkLogProbs(const torch::Tensor& qf, const torch::Tensor& keys, const torch::Tensor& cand,
                            const torch::Tensor& bias, int groups) {
  const int64_t L = qf.size(0), T = qf.size(1), C = keys.size(1), G = groups, rg = qf.size(2) / G;
  if (G < 1 || rg * G != qf.size(2)) Fail("ChunkLogProbs: ", G, " score groups do not divide ", qf.size(2), " features");
  const torch::Tensor q = qf.view({L, T, G, rg}).permute({0, 2, 1, 3});    // (L, G, T, r/G)
  const torch::Tensor k = keys.view({L, C, G, rg}).permute({0, 2, 1, 3});  // (L, G, C, r/G)
  torch::Tensor s = torch::matmul(q, k.transpose(2, 3)) * (1.0 / std::sqrt(double(rg)));  // (L, G, T, C)
  if (bias.defined()) s = s + bias.unsqueeze(1);
  const torch::Tensor not_cand = cand.logical_not().view({1, 1, T, C});
  s = s.masked_fill(not_cand, -INFINITY);
  // Rows without a candidate would be all -inf (NaN after log_softmax): give them a dummy 0.
  const torch::Tensor empty_row = cand.any(1).logical_not().view({1, 1, -1, 1});
  s = s.masked_fill(empty_row, 0.0);
  // -inf off the candidates is set to 0 before the mixture: logsumexp of all -inf would give
  // NaN gradients.
  torch::Tensor logp = torch::log_softmax(s, 3).masked_fill(not_cand, 0.0);  // (L, G, T, C)
  logp = G == 1 ? logp.squeeze(1) : torch::logsumexp(logp, 1) - std::log(double(G));
  return logp.masked_fill(not_cand.squeeze(0), 0.0);
}

torch::Tensor ChunkScores(const AdapterModelImpl& m, const torch::Tensor& x, const ChunkPartition& chunks,
                          const torch::Tensor& cand) {
  const torch::Tensor keys =
      ChunkKeys(RotateFeatures(m.KeyFeatures(x), m.hp.rope_dims, m.hp.rope_base), chunks, m.hp.chunk_key);
  torch::Tensor bias;  // (L, T | 1, C) or undefined: the sum of the score terms
  if (m.dist_bias.defined()) bias = DistanceBias(m.dist_bias, DistanceBuckets(chunks, m.hp.distance_buckets));
  if (m.len_w.defined()) {
    const torch::Tensor len = LengthBias(m.len_w, chunks);
    bias = bias.defined() ? bias + len : len;
  }
  torch::Tensor query = m.QueryFeatures(x);  // (L, T, r); the terms read it position-free
  torch::Tensor rotated = RotateFeatures(query, m.hp.rope_dims, m.hp.rope_base);  // q . k reads it rotated
  if (m.hp.query_target == "served") {
    const torch::Tensor rows = ServingRows(chunks, m.hp.boundary_delay);
    query = query.index_select(1, rows), rotated = rotated.index_select(1, rows);
  }
  if (m.dist_emb.defined()) {
    const torch::Tensor extra = QueryDistanceScore(query, m.dist_emb, DistanceBuckets(chunks, m.hp.distance_buckets));
    bias = bias.defined() ? bias + extra : extra;
  }
  if (m.feat_emb.defined()) {
    const torch::Tensor extra = LogFeatureScore(query, m.feat_emb, m.tokdist_w, LogFeatures(chunks));
    bias = bias.defined() ? bias + extra : extra;
  }
  return ChunkLogProbs(rotated, keys, cand, bias, m.hp.score_groups);
}

}  // namespace chunkllm
