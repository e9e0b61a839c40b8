// The inference-side adapters (AdapterRuntime: f32 on the CPU, and the tensors it gives the
// forward graph) compute what the trained torch weights define: Q-Adapter features
// silu(x W1^T) W2^T and the Chunk Adapter's probability, checked against torch in double
// precision on random weights and inputs, within a bound on f32 rounding derived from the sums'
// magnitudes. (The K-Adapter features the graph computes are checked by the policy's tests.)
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "chunk/adapter_runtime.h"
#include "chunk/chunk_score.h"
#include "chunk/chunk_distance.h"
#include "chunk/chunking.h"
#include "train/adapter_evaluation.h"
#include "train/adapter_losses.h"
#include "train/chunk_score.h"
#include "train/adapter_model.h"

namespace chunkllm {
namespace {

constexpr double kU = 1.0 / (1 << 24);  // f32 unit roundoff

AdapterRuntime MakeRuntime(const AdapterModel& m, int L, int D) {
  AdapterSet a;
  a.base.arch = "llama", a.base.n_layer = L, a.base.n_embd = D;
  m->ExportTo(a);
  return AdapterRuntime(std::move(a));
}

TEST(AdapterRuntime, QueryFeaturesMatchTorchInDouble) {
  const int L = 2, D = 96, T = 5;
  AdapterHyperParams hp;
  hp.d_adapter = 40, hp.rank = 24;
  AdapterModel model(L, D, hp, 3);
  const AdapterRuntime rt = MakeRuntime(model, L, D);
  const torch::Tensor x = torch::randn({T, D}, torch::kFloat32);
  const torch::Tensor xd = x.to(torch::kDouble), ax = xd.abs();
  std::vector<float> out(size_t(hp.rank));
  for (int l = 0; l < L; ++l) {
    const torch::Tensor w1 = model->q_w1[l].detach().to(torch::kDouble);
    const torch::Tensor w2 = model->q_w2[l].detach().to(torch::kDouble);
    const torch::Tensor pre = torch::matmul(xd, w1.t()), h = torch::silu(pre);
    const torch::Tensor ref = torch::matmul(h, w2.t());  // (T, r)
    // f32 sums of n terms err by at most n u of their magnitudes (Higham 3.1); silu's
    // slope is at most 1.1, so the first sum's error reaches the output through |W2|.
    const torch::Tensor bound = double(D) * kU * torch::matmul(1.1 * torch::matmul(ax, w1.abs().t()), w2.abs().t()) +
                                double(hp.d_adapter + 2) * kU * torch::matmul(h.abs(), w2.abs().t());
    for (int t = 0; t < T; ++t) {
      rt.Query(l, x[t].contiguous().data_ptr<float>(), out.data());
      for (int e = 0; e < hp.rank; ++e) {
        ASSERT_NEAR(out[size_t(e)], ref[t][e].item<double>(), 1e-12 + bound[t][e].item<double>())
            << "layer " << l << " token " << t << " feature " << e;
      }
    }
  }
}

// A score term that AdapterForward adds to every candidate (hp_on has it, hp_off not) against
// the runtime's term(rt, layer, row t, chunk c, query): the runtime gives the difference of
// training's log-probs with and without it, up to the row's normaliser (compared as differences
// to chunk 0), within f32 rounding of r-term dot products. Chunks alternate 1, 2 and 3 tokens
// over 60 tokens (lengths vary; 30 chunks, distances up to 29). `randomise` moves the term's
// weights away from their zero start. Returns the number of (layer, row, chunk) checked.
using RuntimeTerm = std::function<float(const AdapterRuntime&, const ChunkPartition&, int, int, int, const float*)>;
int ExpectRuntimeTermIsTrainings(const AdapterHyperParams& hp_on, const AdapterHyperParams& hp_off,
                                 const std::function<void(AdapterModel&)>& randomise, const RuntimeTerm& term) {
  const int L = 2, D = 16, T = 60;
  AdapterModel model(L, D, hp_on, 7);
  {
    torch::NoGradGuard ng;
    randomise(model);
  }
  const AdapterRuntime rt = MakeRuntime(model, L, D);
  std::vector<uint8_t> ends(T, 0);
  for (int t = 0, len = 1; t + len <= T; t += len, len = len % 3 + 1) ends[size_t(t + len - 1)] = 1;
  AdapterBatch b;
  b.chunks = PartitionChunks(ends, 0);
  b.cand = CandidateMask(b.chunks);
  b.x = torch::randn({L, T, D});
  b.h1 = b.x[0];
  b.labels = torch::tensor(std::vector<float>(ends.begin(), ends.end()));
  b.target = b.cand.to(torch::kFloat).unsqueeze(0).expand({L, -1, -1}).contiguous();
  b.target = b.target / b.target.sum(2, true).clamp_min(1.0);
  torch::NoGradGuard ng;
  const torch::Tensor with = AdapterForward(*model, b, 1.0).logp;
  AdapterModel without(L, D, hp_off, 7);  // the same seed: the same adapters, without the term
  const torch::Tensor base = AdapterForward(*without, b, 1.0).logp;
  const torch::Tensor q = model->QueryFeatures(b.x);  // (L, T, r)
  int checked = 0;
  for (int l = 0; l < L; ++l)
    for (int t = T - 1; t >= T - 4; --t) {
      const torch::Tensor qt = q[l][t].contiguous();
      const float* qp = qt.data_ptr<float>();
      const float t0 = term(rt, b.chunks, l, t, 0, qp);
      for (int c = 1; c < b.chunks.n_candidates(t); ++c) {
        const double got = term(rt, b.chunks, l, t, c, qp) - t0;
        const double want = (with[l][t][c] - with[l][t][0] - base[l][t][c] + base[l][t][0]).item<double>();
        // f32: each log-prob errs by ~C u |score| (scores O(10), C 30: ~2e-5); four of them.
        EXPECT_NEAR(got, want, 1e-4) << "layer " << l << " row " << t << " chunk " << c;
        ++checked;
      }
    }
  return checked;
}

// The query-dependent distance score: AdapterForward adds q_t . E[l, bucket(chunk_of[t] - c)]
// / sqrt(r); the runtime's QueryDistanceScore for the same query and distance gives it, for
// distances across the buckets (1-8 exact, then shared).
TEST(AdapterRuntime, QueryDistanceScoreIsTrainingsDistanceTerm) {
  const int B = 11;
  AdapterHyperParams hp;
  hp.d_adapter = 8, hp.rank = 6, hp.distance_buckets = B, hp.query_distance = true;
  AdapterHyperParams plain = hp;
  plain.query_distance = false;
  const int checked = ExpectRuntimeTermIsTrainings(
      hp, plain, [](AdapterModel& m) { m->dist_emb.normal_(0, 1.0); },
      [](const AdapterRuntime& rt, const ChunkPartition& p, int l, int t, int c, const float* q) {
        return QueryDistanceScore(rt.adapters(), l, p.chunk_of[size_t(t)] - c, q);
      });
  EXPECT_GE(checked, 2 * 4 * 26);
  EXPECT_EQ(ChunkDistanceBucket(16, B), B - 1) << "distances 16 to 29 share the last bucket";
  EXPECT_EQ(ChunkDistanceBucket(29, B), B - 1);
}

// The query-dependent log features: AdapterForward adds (q . u / sqrt(r)) log|c| + (w + q . v /
// sqrt(r)) log(t - last token of c); the runtime's LogFeatureScore for the chunk's length and
// token distance gives it (chunks of 1, 2 and 3 tokens: the length term varies).
TEST(AdapterRuntime, LogFeatureScoreIsTrainingsFeatureTerm) {
  AdapterHyperParams hp;
  hp.d_adapter = 8, hp.rank = 6, hp.query_features = true;
  AdapterHyperParams plain = hp;
  plain.query_features = false;
  const int checked = ExpectRuntimeTermIsTrainings(
      hp, plain,
      [](AdapterModel& m) {
        m->feat_emb.normal_(0, 1.0);
        m->tokdist_w.normal_(0, 1.0);
      },
      [](const AdapterRuntime& rt, const ChunkPartition& p, int l, int t, int c, const float* q) {
        return LogFeatureScore(rt.adapters(), l, p.end[size_t(c)] - p.begin[size_t(c)], t - (p.end[size_t(c)] - 1), q);
      });
  EXPECT_GE(checked, 2 * 4 * 26);
}

// A Chunk Adapter reading n tokens with a delay d: token i's input is h_1 of tokens
// i + d - n + 1 ... i + d, oldest first, zeros before the first. Training's BoundaryLogits
// match a double-precision reference on the window built here by hand (inference, from the
// graph's parts, is checked against BoundaryLogits by the next test).
TEST(AdapterRuntime, BoundaryInputsAreConsecutiveTokensOldestFirst) {
  const int D = 24, T = 7;
  for (auto [delay, inputs] : {std::pair{0, 2}, std::pair{1, 2}, std::pair{0, 3}, std::pair{1, 1}}) {
    AdapterHyperParams hp;
    hp.d_adapter = 8, hp.rank = 4, hp.chunk_hidden = 0, hp.boundary_delay = delay, hp.boundary_inputs = inputs;
    AdapterModel model(1, D, hp, 5);
    {
      torch::NoGradGuard ng;
      model->c_b1.normal_(0, 0.5);
    }
    const torch::Tensor x = torch::randn({T, D}, torch::kFloat32);
    const torch::Tensor logits = model->BoundaryLogits(x).detach();
    ASSERT_EQ(logits.size(0), T - delay);
    const std::vector<float> w(model->c_w1.data_ptr<float>(), model->c_w1.data_ptr<float>() + inputs * D);
    const double b = model->c_b1.item<double>();
    for (int i = 0; i < T - delay; ++i) {
      std::vector<float> window(size_t(inputs * D), 0.0f);
      for (int j = 0; j < inputs; ++j) {
        const int src = i + delay - inputs + 1 + j;
        if (src >= 0) std::memcpy(window.data() + j * D, x[src].contiguous().data_ptr<float>(), sizeof(float) * D);
      }
      double z = b, mag = std::abs(b);
      for (size_t e = 0; e < window.size(); ++e) z += double(w[e]) * window[e], mag += std::abs(double(w[e]) * window[e]);
      const double tol = double(inputs * D + 1) * kU * mag;  // f32 sums (Higham 3.1)
      EXPECT_NEAR(logits[i].item<double>(), z, 1e-12 + tol) << "delay " << delay << " inputs " << inputs << " token " << i;
    }
  }
}

// At inference the forward graph multiplies every token's h_1 by the Chunk Adapter's first
// layer cut into its n input blocks (AdapterTensors::boundary_w1, stacked (D, n Hc)), and the
// policy sums block k of the k-th oldest token of each window (BoundaryProbabilityFromParts).
// Here the parts are formed in double from the stacked tensor as read back from ggml, so a
// block in the wrong place or a wrong sum fails against training's BoundaryLogits in double.
// The K-Adapter tensors hold the runtime's matrices bit for bit.
TEST(AdapterRuntime, GraphTensorsAndBoundaryPartsGiveTheTrainingPathsProbability) {
  const int L = 2, D = 24, T = 9;
  for (int hidden : {0, 6})
    for (auto [delay, inputs] : {std::pair{0, 1}, std::pair{1, 2}, std::pair{0, 3}}) {
      SCOPED_TRACE("hidden " + std::to_string(hidden) + ", delay " + std::to_string(delay) + ", inputs " +
                   std::to_string(inputs));
      AdapterHyperParams hp;
      hp.d_adapter = 8, hp.rank = 4, hp.chunk_hidden = hidden;
      hp.boundary_delay = delay, hp.boundary_inputs = inputs;
      AdapterModel model(L, D, hp, 7);
      {
        torch::NoGradGuard ng;
        model->c_b1.normal_(0, 0.5);
        if (hidden > 0) model->c_b2.normal_(0, 0.5);
      }
      const AdapterRuntime rt = MakeRuntime(model, L, D);
      const AdapterGraphWeights& gw = rt.tensors().weights();
      for (int l = 0; l < L; ++l) {
        for (auto [t, want] : {std::pair{gw.key_w1[size_t(l)], &rt.adapters().layers[size_t(l)].k_w1},
                               std::pair{gw.key_w2[size_t(l)], &rt.adapters().layers[size_t(l)].k_w2}}) {
          std::vector<float> got(size_t(ggml_nelements(t)));
          ggml_backend_tensor_get(t, got.data(), 0, ggml_nbytes(t));
          EXPECT_EQ(got, *want) << "layer " << l;
        }
      }
      const int Hc = std::max(hidden, 1), width = inputs * Hc;
      ASSERT_EQ(rt.tensors().boundary_block_rows(), Hc);
      std::vector<float> stacked(size_t(D) * size_t(width));
      ASSERT_EQ(ggml_nbytes(gw.boundary_w1), stacked.size() * sizeof(float));
      ggml_backend_tensor_get(gw.boundary_w1, stacked.data(), 0, ggml_nbytes(gw.boundary_w1));

      const torch::Tensor x = torch::randn({T, D}, torch::kFloat32);
      const torch::Tensor logits = model->BoundaryLogits(x).detach().to(torch::kDouble);  // (T - delay)
      // parts[t] = stacked . h_1(t), rounded to f32 as the graph's output is; |.| for the bound.
      std::vector<float> parts(size_t(T) * size_t(width));
      std::vector<double> mag(parts.size());
      for (int t = 0; t < T; ++t)
        for (int j = 0; j < width; ++j) {
          double s = 0, m = 0;
          for (int e = 0; e < D; ++e) {
            const double v = double(stacked[size_t(j) * D + size_t(e)]) * x[t][e].item<double>();
            s += v, m += std::abs(v);
          }
          parts[size_t(t) * width + size_t(j)] = float(s), mag[size_t(t) * width + size_t(j)] = m;
        }
      const std::vector<float>& b1 = rt.adapters().chunk.b1;
      const std::vector<float>& w2 = rt.adapters().chunk.w2;
      for (int i = 0; i + delay < T; ++i) {
        // The window of token i ends at token i + delay: the n latest tokens, oldest first.
        std::vector<float> window(size_t(inputs) * size_t(width), 0.0f);
        std::vector<double> pre_bound(static_cast<size_t>(Hc), 0.0);
        for (int k = 0; k < inputs; ++k) {
          const int src = i + delay - inputs + 1 + k;
          if (src < 0) continue;
          std::copy(parts.begin() + long(src) * width, parts.begin() + long(src + 1) * width,
                    window.begin() + long(k) * width);
          // The graph's f32 dot of D terms (Higham 3.1) and this f32 sum of n + 1 terms.
          for (int h = 0; h < Hc; ++h)
            pre_bound[size_t(h)] += double(D + inputs + 2) * kU * mag[size_t(src) * width + size_t(k) * Hc + size_t(h)];
        }
        // Through silu (slope at most 1.1, a few u of its own) and the f32 sum of the hidden
        // layer's Hc + 1 terms to z.
        double zbound = hidden > 0 ? double(hidden + 2) * kU * std::abs(rt.adapters().chunk.b2[0]) : 0.0;
        for (int h = 0; h < Hc; ++h) {
          double pre = b1[size_t(h)];
          for (int k = 0; k < inputs; ++k) pre += window[size_t(k) * width + size_t(k) * Hc + size_t(h)];
          pre_bound[size_t(h)] += double(inputs + 2) * kU * std::abs(b1[size_t(h)]);
          const double silu = pre / (1.0 + std::exp(-pre));
          zbound += hidden > 0 ? std::abs(w2[size_t(h)]) * (1.1 * pre_bound[size_t(h)] + double(hidden + 6) * kU * std::abs(silu))
                               : pre_bound[size_t(h)];
        }
        const double p_ref = 1.0 / (1.0 + std::exp(-logits[i].item<double>()));
        EXPECT_NEAR(rt.BoundaryProbabilityFromParts(window.data()), p_ref, 0.25 * zbound + 4 * kU) << "token " << i;
      }
    }
}

TEST(AdapterRuntime, DistanceBiasIsTheTrainedBucketsValue) {
  AdapterHyperParams hp;
  hp.d_adapter = 8, hp.rank = 4, hp.distance_buckets = 12;
  AdapterModel model(2, 16, hp, 3);
  {
    torch::NoGradGuard ng;
    model->dist_bias.normal_(0, 1.0);
  }
  const AdapterRuntime rt = MakeRuntime(model, 2, 16);
  for (int l = 0; l < 2; ++l)
    for (int d : {1, 3, 8, 9, 40, 5000}) {
      EXPECT_EQ(DistanceBias(rt.adapters(), l, d), model->dist_bias[l][ChunkDistanceBucket(d, 12)].item<float>()) << l << " " << d;
    }
  hp.distance_buckets = 0;
  EXPECT_EQ(DistanceBias(MakeRuntime(AdapterModel(2, 16, hp, 3), 2, 16).adapters(), 1, 4), 0.0f);
}

// Inference's length bias is training's (LengthBias in train/adapter_losses.h) for chunks of
// 1, 5, 17 and 64 tokens, through the adapter file's vectors; 0 without it.
TEST(AdapterRuntime, LengthBiasIsTrainingsLengthBias) {
  AdapterHyperParams hp;
  hp.d_adapter = 8, hp.rank = 4, hp.length_bias = true;
  AdapterModel model(2, 16, hp, 3);
  {
    torch::NoGradGuard ng;
    model->len_w.normal_(1.0, 1.0);
  }
  const AdapterRuntime rt = MakeRuntime(model, 2, 16);
  const int lengths[] = {1, 5, 17, 64};
  std::vector<uint8_t> ends;
  for (int n : lengths) ends.resize(ends.size() + size_t(n), 0), ends.back() = 1;
  const torch::Tensor want = LengthBias(model->len_w.detach(), PartitionChunks(ends, 0));
  for (int l = 0; l < 2; ++l)
    for (int c = 0; c < 4; ++c) {
      const float w = want[l][0][c].item<float>();
      EXPECT_NEAR(LengthBias(rt.adapters(), l, lengths[c]), w, 1e-6f * (1.0f + std::fabs(w))) << l << " " << lengths[c];
    }
  EXPECT_NE(LengthBias(rt.adapters(), 1, 17), 0.0f);
  hp.length_bias = false;
  EXPECT_EQ(LengthBias(MakeRuntime(AdapterModel(2, 16, hp, 3), 2, 16).adapters(), 1, 17), 0.0f);
}

}  // namespace
}  // namespace chunkllm
