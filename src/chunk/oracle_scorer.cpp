#include "chunk/oracle_scorer.h"

#include <algorithm>
#include <cmath>

#include "chunk/chunk_index.h"
#include "chunk/selection_queries.h"
#include "core/error.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"

namespace chunkllm {

void OracleScorer::ReadQuery(const SequenceGraph& g, int row, int l, float* out) {
  const size_t W = size_t(query_width());
  ggml_backend_tensor_get(g.q_rope[size_t(l)], out, sizeof(float) * W * size_t(row), sizeof(float) * W);
}

std::vector<std::vector<float>> OracleScorer::Scores(const ScoringInputs& in, const std::vector<int>& cand) const {
  const ChunkIndex& index = in.index;
  const SelectionQueries& queries = in.queries;
  if (!in.cache || in.cache->released()) Fail("--attn oracle needs the full KV cache");
  const int L = c_.n_layer, T = in.n_past, H = c_.n_head, Hkv = c_.n_head_kv, Dh = c_.head_dim;
  const size_t n_q = size_t(queries.n_queries()), W = size_t(query_width());
  std::vector<std::vector<float>> s(size_t(L), std::vector<float>(cand.size()));
  const KvCache& kv = *in.cache;
  const auto* traits = ggml_get_type_traits(kv.type());
  std::vector<float> keys(size_t(T) * Hkv * Dh), mass;
  std::vector<float> p(static_cast<size_t>(T));
  std::vector<int> chunk_of(size_t(T), -1);
  for (int ch = 0; ch < index.n_chunks(); ++ch)
    for (int j = index.chunk_begin(ch); j < index.chunk_end(ch); ++j) chunk_of[size_t(j)] = ch;
  for (int l = 0; l < L; ++l) {
    const ggml_tensor* kt = kv.k(l);
    for (int j = 0; j < T; ++j) {
      traits->to_float((const char*)kt->data + kt->nb[1] * size_t(j), keys.data() + size_t(j) * Hkv * Dh, Hkv * Dh);
    }
    mass.assign(size_t(index.n_chunks()), 0.0f);
    for (size_t iq = 0; iq < n_q; ++iq) {
      // A recent query at position t attends causally to [0, t]; the last token's to all T.
      const int t_end = queries.recent() ? queries.position(int(iq)) + 1 : T;
      for (int h = 0; h < H; ++h) {
        const float* q = queries.layer(l).data() + iq * W + size_t(h) * Dh;
        const int hk = h / (H / Hkv);
        float mx = -INFINITY;
        for (int j = 0; j < t_end; ++j) {
          const float* k = keys.data() + (size_t(j) * Hkv + hk) * Dh;
          float d = 0;
          for (int e = 0; e < Dh; ++e) d += q[e] * k[e];
          p[size_t(j)] = d / std::sqrt(float(Dh));
          mx = std::max(mx, p[size_t(j)]);
        }
        double z = 0;
        for (int j = 0; j < t_end; ++j) z += (p[size_t(j)] = std::exp(p[size_t(j)] - mx));
        for (int j = 0; j < t_end; ++j)
          if (chunk_of[size_t(j)] >= 0) mass[size_t(chunk_of[size_t(j)])] += float(p[size_t(j)] / z / H / n_q);
      }
    }
    for (size_t i = 0; i < cand.size(); ++i) s[size_t(l)][i] = mass[size_t(cand[i])];
  }
  return s;
}

}  // namespace chunkllm
