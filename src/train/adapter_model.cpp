#include "train/adapter_model.h"

#include <cmath>

#include "core/error.h"

namespace chunkllm {
namespace {

std::vector<float> ToVector(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

void FromVector(torch::Tensor& t, const std::vector<float>& v) {
  // from_blob reads as many floats as t holds: a set of another shape must not get that far.
  if (int64_t(v.size()) != t.numel()) Fail("adapter tensor of ", v.size(), " values imported into one of ", t.numel());
  torch::NoGradGuard ng;
  t.copy_(torch::from_blob(const_cast<float*>(v.data()), t.sizes(), torch::kFloat32));
}

}  // namespace

AdapterModelImpl::AdapterModelImpl(int L, int D, const AdapterHyperParams& h, uint64_t seed) : hp(h) {
  torch::manual_seed(seed);
  const int Da = hp.d_adapter, r = hp.rank, Hc = hp.chunk_hidden > 0 ? hp.chunk_hidden : 1;
  auto normal = [](std::vector<int64_t> shape, int fan_in) {
    return torch::randn(shape) / std::sqrt(double(fan_in));
  };
  q_w1 = register_parameter("q_w1", normal({L, Da, D}, D));
  q_w2 = register_parameter("q_w2", normal({L, r, Da}, Da));
  k_w1 = register_parameter("k_w1", normal({L, Da, D}, D));
  k_w2 = register_parameter("k_w2", normal({L, r, Da}, Da));
  const int chunk_in = D * hp.boundary_inputs;
  c_w1 = register_parameter("c_w1", normal({Hc, chunk_in}, chunk_in));
  c_b1 = register_parameter("c_b1", torch::zeros({Hc}));
  if (hp.chunk_hidden > 0) {
    c_w2 = register_parameter("c_w2", normal({Hc}, Hc));
    c_b2 = register_parameter("c_b2", torch::zeros({1}));
  }
  // Zero: training starts from the paper's position-free score.
  if (hp.distance_buckets > 0) dist_bias = register_parameter("dist_bias", torch::zeros({L, hp.distance_buckets}));
  // Zero: no query's preference for a distance to start with.
  if (hp.distance_buckets > 0 && hp.query_distance) {
    dist_emb = register_parameter("dist_emb", torch::zeros({L, hp.distance_buckets, hp.rank}));
  }
  // Zero: the log features start out of the score.
  if (hp.query_features) {
    feat_emb = register_parameter("feat_emb", torch::zeros({L, 2, hp.rank}));
    tokdist_w = register_parameter("tokdist_w", torch::zeros({L}));
  }
  // One: a chunk scores as the log-sum of its tokens, each scoring like its key (adapter_set.h).
  if (hp.length_bias) len_w = register_parameter("len_w", torch::ones({L}));
}

torch::Tensor AdapterModelImpl::BoundaryLogits(const torch::Tensor& h1) const {
  // Row i of the input (T - d, n D) holds h1[i + d - n + 1 ... i + d], zeros before row 0.
  const int64_t T = h1.size(0), d = hp.boundary_delay, n = hp.boundary_inputs;
  std::vector<torch::Tensor> parts;
  for (int64_t j = 0; j < n; ++j) {
    const int64_t shift = d - (n - 1) + j;  // row i reads h1[i + shift]
    torch::Tensor p = h1.slice(0, std::max<int64_t>(0, shift), T - d + shift);
    if (shift < 0) p = torch::cat({torch::zeros({-shift, h1.size(1)}, h1.options()), p});
    parts.push_back(p);
  }
  const torch::Tensor x = n == 1 ? parts[0] : torch::cat(parts, 1);
  torch::Tensor z = torch::matmul(x, c_w1.t()) + c_b1;  // (T - d, Hc | 1)
  if (hp.chunk_hidden == 0) return z.squeeze(1);
  return torch::matmul(torch::silu(z), c_w2) + c_b2;
}

void AdapterModelImpl::ExportTo(AdapterSet& a) const {
  a.hp = hp;
  const int64_t L = q_w1.size(0);
  a.layers.assign(size_t(L), {});
  for (int64_t l = 0; l < L; ++l) {
    LayerAdapters& la = a.layers[size_t(l)];
    la.q_w1 = ToVector(q_w1[l]), la.q_w2 = ToVector(q_w2[l]);
    la.k_w1 = ToVector(k_w1[l]), la.k_w2 = ToVector(k_w2[l]);
    if (dist_bias.defined()) la.distance_bias = ToVector(dist_bias[l]);
    if (len_w.defined()) la.length_weight = ToVector(len_w.slice(0, l, l + 1));
    if (dist_emb.defined()) la.distance_query = ToVector(dist_emb[l]);
    if (feat_emb.defined()) {
      la.feature_query = ToVector(feat_emb[l]);
      la.distance_weight = ToVector(tokdist_w.slice(0, l, l + 1));
    }
  }
  a.chunk = ChunkAdapterWeights{};
  a.chunk.w1 = ToVector(c_w1), a.chunk.b1 = ToVector(c_b1);
  if (hp.chunk_hidden > 0) a.chunk.w2 = ToVector(c_w2), a.chunk.b2 = ToVector(c_b2);
}

void AdapterModelImpl::ImportFrom(const AdapterSet& a) {
  if (int64_t(a.layers.size()) != q_w1.size(0)) Fail("adapters of ", a.layers.size(), " layers imported into ", q_w1.size(0));
  for (int64_t l = 0; l < q_w1.size(0); ++l) {
    const LayerAdapters& la = a.layers[size_t(l)];
    torch::Tensor t;
    t = q_w1[l], FromVector(t, la.q_w1);
    t = q_w2[l], FromVector(t, la.q_w2);
    t = k_w1[l], FromVector(t, la.k_w1);
    t = k_w2[l], FromVector(t, la.k_w2);
    if (dist_bias.defined()) t = dist_bias[l], FromVector(t, la.distance_bias);
    if (len_w.defined()) t = len_w.slice(0, l, l + 1), FromVector(t, la.length_weight);
    if (dist_emb.defined()) t = dist_emb[l], FromVector(t, la.distance_query);
    if (feat_emb.defined()) {
      t = feat_emb[l], FromVector(t, la.feature_query);
      t = tokdist_w.slice(0, l, l + 1), FromVector(t, la.distance_weight);
    }
  }
  FromVector(c_w1, a.chunk.w1);
  FromVector(c_b1, a.chunk.b1);
  if (hp.chunk_hidden > 0) FromVector(c_w2, a.chunk.w2), FromVector(c_b2, a.chunk.b2);
}

}  // namespace chunkllm
