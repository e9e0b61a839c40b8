// The teacher's chunk-aggregated attention against a naive dense computation in double:
// softmax over every causal key, summed per chunk and over heads, renormalised over the
// completed chunks before the query's own (optionally without the latest chunks and the sink
// positions, which inference always keeps). The naive side's q and k are recomputed from the
// teacher's attn_in by Qwen3's definition (projection, QK-norm, NEOX RoPE), not read from the
// teacher's own q/k taps.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <random>

#include "ggml-backend.h"

#include "model/model.h"
#include "test_util.h"
#include "text/llama_log.h"
#include "train/teacher.h"

namespace chunkllm {
namespace {

std::string PeakyModel() {
  RandomModelSpec spec;
  spec.arch = Arch::kQwen3;  // QK-norm and NEOX RoPE in the q/k taps
  spec.vocab_path = test::VocabPath("llama-spm");
  spec.n_embd = 128, spec.n_layer = 3, spec.n_head = 4, spec.n_head_kv = 2, spec.head_dim = 32;
  spec.n_ctx_train = 1024;
  spec.weight_type = GGML_TYPE_F32;
  spec.init_std = 0.15f;  // far from uniform attention, so aggregation errors would show
  return test::FixtureModel("teacher-qwen3-peaky", spec);
}

std::vector<float> Values(const ggml_tensor* t) {  // an F32 weight
  std::vector<float> v(size_t(ggml_nelements(t)));
  ggml_backend_tensor_get(t, v.data(), 0, ggml_nbytes(t));
  return v;
}

// The teacher's post-RoPE q (or k) taps of layer l recomputed in double from its attn_in tap,
// as Qwen3 defines them, without the engine's graph: y = W x (T, n_head, Dh), each head
// RMS-normalised and scaled by its norm weight, then RoPE in NEOX pairs (e, e + Dh/2) at angle
// t base^(-2e/Dh). Returns them as (T, n_head, Dh) and checks the taps against them: the f32
// path differs by its product's gamma_D |W| |x| (carried through the norm's 1/rms, plus the
// norm's own Dh u) and by RoPE's f32 angle ((5 e + 2) u relative, as ggml builds theta_scale^e)
// and cos/sin/products (8 u), all doubled. A NORMAL pairing or a missing norm is of order 1.
std::vector<double> CheckProjection(const std::vector<float>& x, const std::vector<float>& tap, const ggml_tensor* w,
                                    const ggml_tensor* norm, int T, int D, int n_head, int Dh, float eps, float base) {
  const std::vector<float> W = Values(w), nw = Values(norm);
  const double u = std::ldexp(1.0, -24), gamma = D * u / (1 - D * u);
  std::vector<double> out(size_t(T) * n_head * Dh);
  double worst = 0;
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < n_head; ++h) {
      std::vector<double> y(Dh, 0.0), a(Dh, 0.0);  // W x and |W| |x|
      double ss = 0, max_a = 0;
      for (int e = 0; e < Dh; ++e) {
        const float* row = W.data() + size_t(h * Dh + e) * D;
        for (int i = 0; i < D; ++i) {
          y[size_t(e)] += double(row[i]) * x[size_t(t) * D + i];
          a[size_t(e)] += std::fabs(double(row[i]) * x[size_t(t) * D + i]);
        }
        ss += y[size_t(e)] * y[size_t(e)], max_a = std::max(max_a, a[size_t(e)]);
      }
      const double inv_rms = 1.0 / std::sqrt(ss / Dh + eps);
      double max_n = 0, max_nw = 0;
      for (int e = 0; e < Dh; ++e) {
        y[size_t(e)] *= inv_rms * nw[size_t(e)];
        max_n = std::max(max_n, std::fabs(y[size_t(e)])), max_nw = std::max(max_nw, std::fabs(double(nw[size_t(e)])));
      }
      const double normed_err = 2 * gamma * max_a * inv_rms * max_nw + (Dh + 4) * u * max_n;
      for (int e = 0; e < Dh / 2; ++e) {
        const double angle = t * std::pow(double(base), -2.0 * e / Dh);
        const double y0 = y[size_t(e)], y1 = y[size_t(e + Dh / 2)];
        const double r0 = y0 * std::cos(angle) - y1 * std::sin(angle), r1 = y0 * std::sin(angle) + y1 * std::cos(angle);
        const double bound = 2 * (2 * normed_err + ((5 * e + 2) * u * angle + 8 * u) * (std::fabs(y0) + std::fabs(y1)));
        const size_t at = (size_t(t) * n_head + h) * Dh;
        out[at + e] = r0, out[at + e + Dh / 2] = r1;
        for (int half : {0, Dh / 2}) {
          const double diff = std::fabs(tap[at + e + half] - out[at + e + half]);
          worst = std::max(worst, diff / bound);
          if (diff > bound) {
            ADD_FAILURE() << "tap at position " << t << ", head " << h << ", dim " << e + half << ": "
                          << tap[at + e + half] << " against " << out[at + e + half] << " (bound " << bound << ")";
            return out;
          }
        }
      }
    }
  std::printf("  taps within %.3g of their bound\n", worst);
  return out;
}

// skip_local latest chunks are no candidates; the first `sink` keys count for no chunk.
void CheckAgainstNaive(int skip_local, int sink) {
  InitLlamaBackend();
  auto model = Model::Load(PeakyModel());
  const ModelConfig& c = model->config();
  const int T = 300;  // three query blocks of 128, the last one partial
  std::mt19937 rng(7);
  std::vector<int32_t> tokens(T);
  for (auto& t : tokens) t = int32_t(rng() % 32000);
  std::vector<uint8_t> is_boundary(T, 0);
  for (int t = 0; t < T; ++t) is_boundary[size_t(t)] = rng() % 9 == 0;
  ChunkPartition chunks = PartitionChunks(is_boundary, 20);
  chunks.skip_local = skip_local;

  TeacherOptions o;
  o.query_block = 128;
  o.keep_qk = true;
  o.sink = sink;
  const TeacherOutput out = RunTeacher(*model, tokens, chunks, o);
  ASSERT_EQ(out.C, chunks.n_chunks());
  const int H = c.n_head, Hkv = c.n_head_kv, Dh = c.head_dim, C = out.C;

  double max_err = 0, max_score = 0;
  int rows_checked = 0;
  ASSERT_EQ(c.rope_scaling, RopeScaling::kNone);
  for (int l = 0; l < c.n_layer; ++l) {
    // q and k from the teacher's attn_in by Qwen3's definition, not from its own q/k taps.
    const LayerWeights& lw = model->weights().layers[size_t(l)];
    const auto& x = out.attn_in[size_t(l)];
    const std::vector<double> q = CheckProjection(x, out.q[size_t(l)], lw.wq, lw.q_norm, T, c.n_embd, H, Dh,
                                                  c.rms_eps, c.rope_freq_base);
    const std::vector<double> k = CheckProjection(x, out.k[size_t(l)], lw.wk, lw.k_norm, T, c.n_embd, Hkv, Dh,
                                                  c.rms_eps, c.rope_freq_base);
    for (int t = 0; t < T; ++t) {
      std::vector<double> mass(size_t(C), 0.0);
      for (int h = 0; h < H; ++h) {
        const int hk = h / (H / Hkv);
        std::vector<double> s(size_t(t + 1));
        double mx = -DBL_MAX;
        for (int j = 0; j <= t; ++j) {
          double d = 0;
          for (int e = 0; e < Dh; ++e) d += q[(size_t(t) * H + h) * Dh + e] * k[(size_t(j) * Hkv + hk) * Dh + e];
          s[size_t(j)] = d / std::sqrt(double(Dh));
          mx = std::max(mx, s[size_t(j)]);
          max_score = std::max(max_score, std::fabs(s[size_t(j)]));
        }
        double z = 0;
        for (double& v : s) z += (v = std::exp(v - mx));
        for (int j = sink; j <= t; ++j) mass[size_t(chunks.chunk_of[size_t(j)])] += s[size_t(j)] / z;
      }
      const int n_cand = std::max(0, chunks.chunk_of[size_t(t)] - skip_local);
      double sum = 0;
      for (int cc = 0; cc < n_cand; ++cc) sum += mass[size_t(cc)];
      const float* got = out.target[size_t(l)].data() + size_t(t) * C;
      for (int cc = 0; cc < C; ++cc) {
        const double want = cc < n_cand ? mass[size_t(cc)] / sum : 0.0;
        max_err = std::max(max_err, std::fabs(want - got[cc]));
      }
      rows_checked += n_cand > 0;
    }
  }
  // f32 arithmetic: a score carries ~Dh*|s| ulps, exp turns that into a relative error of
  // |s|*Dh*u, and sums over up to T keys add T*u. Bound with u = 2^-24 and a factor 4 of slack.
  const double u = std::ldexp(1.0, -24);
  const double tol = 4 * (max_score * Dh + T) * u;
  EXPECT_LT(max_err, tol) << "max |s| " << max_score;
  EXPECT_GT(rows_checked, c.n_layer * T / 2);
  EXPECT_GT(max_score, 1.0) << "attention is nearly uniform: the test would not see errors";
}

TEST(Teacher, AggregationMatchesNaiveDenseAttention) { CheckAgainstNaive(0, 0); }

// As inference keeps them: the 2 latest chunks and the first 4 positions are left out.
TEST(Teacher, AggregationLeavesOutLocalChunksAndSinkPositions) { CheckAgainstNaive(2, 4); }

TEST(Teacher, TapsHaveTheModelShapes) {
  InitLlamaBackend();
  auto model = Model::Load(PeakyModel());
  std::vector<int32_t> tokens = {1, 450, 4996, 17354, 1701, 432, 29889};
  const ChunkPartition chunks = PartitionChunks(std::vector<uint8_t>{0, 0, 1, 0, 0, 1, 0}, 64);
  const TeacherOutput out = RunTeacher(*model, tokens, chunks, {});
  ASSERT_EQ(out.attn_in.size(), size_t(model->config().n_layer));
  EXPECT_EQ(out.attn_in[0].size(), tokens.size() * size_t(model->config().n_embd));
  EXPECT_EQ(out.layer1.size(), tokens.size() * size_t(model->config().n_embd));
  // Tokens 0-2 (chunk 0) have no candidate; tokens 3-5 have chunk 0 only (mass 1).
  for (int t = 0; t < 3; ++t) EXPECT_EQ(out.target[1][size_t(t) * out.C], 0.0f);
  for (int t = 3; t < 6; ++t) EXPECT_FLOAT_EQ(out.target[1][size_t(t) * out.C], 1.0f);
  // Token 6 spreads over chunks 0 and 1.
  EXPECT_NEAR(out.target[2][6 * size_t(out.C)] + out.target[2][6 * size_t(out.C) + 1], 1.0, 1e-6);
}

}  // namespace
}  // namespace chunkllm
