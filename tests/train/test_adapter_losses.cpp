// Adapter training pieces: autograd of every loss path against central finite differences in
// double precision, and the metrics on hand-made cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <tuple>

#include "chunk/adapter_runtime.h"
#include "chunk/chunk_score.h"
#include "chunk/chunk_distance.h"
#include "train/adapter_evaluation.h"
#include "train/adapter_losses.h"
#include "train/chunk_score.h"
#include "train/gradient_check.h"
#include "train/adapter_model.h"

namespace chunkllm {
namespace {

// Autograd of loss() with respect to the leaf tensor `leaf` (double, requires grad) against
// central differences at every element. h = 1e-5: truncation and rounding both near 1e-10 for
// O(1) values, so 1e-6 relative plus 1e-8 absolute is a bound that a wrong backward breaks.
void CheckGradient(torch::Tensor leaf, const std::function<torch::Tensor()>& loss, const std::string& what) {
  ASSERT_TRUE(leaf.requires_grad());
  if (leaf.grad().defined()) leaf.mutable_grad().zero_();
  loss().backward();
  test::ExpectGradientMatches(leaf.data(), leaf.grad(), loss, test::EveryNth(leaf.numel()), {1e-5, 1e-8, 1e-6}, what);
}

torch::Tensor Leaf(torch::Tensor t) { return t.to(torch::kDouble).detach().requires_grad_(true); }

struct Case {
  ChunkPartition chunks = PartitionChunks({0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0}, 0);  // 5 chunks, T 12
  int64_t L = 2, T = 12, r = 3;
  torch::Tensor cand = CandidateMask(chunks);
  torch::Tensor target;  // (L, T, C), normalised over candidates
  Case() {
    torch::manual_seed(5);
    target = torch::rand({L, T, chunks.n_chunks()}, torch::kDouble) * cand.unsqueeze(0);
    target = target / target.sum(2, true).clamp_min(1e-300);
  }
};

TEST(AdapterLosses, KlGradientWrtQueryAndKeyFeatures) {
  Case c;
  torch::manual_seed(1);
  const torch::Tensor q = Leaf(torch::randn({c.L, c.T, c.r})), k = Leaf(torch::randn({c.L, c.T, c.r}));
  for (const char* mode : {"boundary", "mean"}) {
    auto kl = [&] { return ChunkKl(c.target, ChunkLogProbs(q, ChunkKeys(k, c.chunks, mode), c.cand), c.cand).sum(); };
    CheckGradient(q, kl, std::string("d KL / d q, keys ") + mode);
    CheckGradient(k, kl, std::string("d KL / d k, keys ") + mode);
  }
}

TEST(AdapterLosses, BceGradientAndValue) {
  torch::manual_seed(2);
  const torch::Tensor labels = torch::tensor({1.0, 0.0, 0.0, 1.0, 0.0}, torch::kDouble);
  const torch::Tensor z = Leaf(torch::randn({5}));
  CheckGradient(z, [&] { return BoundaryBce(z, labels, 3.0); }, "d BCE / d z");
  // By hand: mean of -(w y log s(z) + (1 - y) log(1 - s(z))).
  double want = 0;
  for (int i = 0; i < 5; ++i) {
    const double s = 1 / (1 + std::exp(-z[i].item<double>())), y = labels[i].item<double>();
    want += -(3.0 * y * std::log(s) + (1 - y) * std::log(1 - s)) / 5;
  }
  EXPECT_NEAR(BoundaryBce(z, labels, 3.0).item<double>(), want, 1e-12);
}

TEST(AdapterLosses, AdapterWeightsGradientThroughTheWholeLoss) {
  Case c;
  // (Chunk Adapter hidden width, distance buckets, boundary delay and inputs, query target,
  // length bias, score groups, query distance, query features): linear and hidden Chunk Adapter,
  // with and without the distance bias (3 buckets, so that distances 3 and 4 share the last
  // one), a Chunk Adapter reading two tokens, one of them ahead, the served query target, the
  // length bias alone and with the distance bias, a mixture of 3 score groups (one feature each)
  // with both biases, the query-dependent distance score (alone, served, and with groups), and
  // the query-dependent log features (alone, and served with every other term), and rotated
  // features (2 of the 3, alone, and served with every other term). The loss is
  // AdapterForward's, on a hand-made batch.
  using Knobs = std::tuple<int, int, int, int, const char*, bool, int, bool, bool, int>;
  for (auto [hidden, buckets, delay, inputs, target, length, groups, qdist, feats, rope] :
       {Knobs{0, 0, 0, 1, "token", false, 1, false, false, 0}, Knobs{3, 3, 0, 1, "token", false, 1, false, false, 0},
        Knobs{3, 0, 1, 2, "token", false, 1, false, false, 0}, Knobs{0, 3, 1, 1, "served", false, 1, false, false, 0},
        Knobs{0, 0, 0, 1, "token", true, 1, false, false, 0}, Knobs{3, 3, 1, 2, "token", true, 1, false, false, 0},
        Knobs{0, 3, 0, 1, "token", true, 3, false, false, 0}, Knobs{0, 3, 0, 1, "token", false, 1, true, false, 0},
        Knobs{0, 3, 1, 1, "served", true, 3, true, false, 0}, Knobs{0, 0, 0, 1, "token", false, 1, false, true, 0},
        Knobs{0, 3, 1, 1, "served", true, 3, true, true, 0}, Knobs{0, 0, 0, 1, "token", false, 1, false, false, 2},
        Knobs{0, 3, 1, 1, "served", true, 3, true, true, 2}}) {
    AdapterHyperParams hp;
    hp.d_adapter = 4, hp.rank = int(c.r), hp.chunk_hidden = hidden, hp.distance_buckets = buckets;
    hp.boundary_delay = delay, hp.boundary_inputs = inputs, hp.query_target = target, hp.length_bias = length;
    hp.score_groups = groups, hp.query_distance = qdist, hp.query_features = feats;
    hp.rope_dims = rope, hp.rope_base = 3.0f;  // angles of 1/3 radian per token and more in the first pair
    AdapterModel m(int(c.L), 6, hp, 9);
    m->to(torch::kDouble);
    torch::manual_seed(3);
    if (buckets > 0) {
      torch::NoGradGuard ng;  // away from the zero start, so that the bias changes the softmax
      m->dist_bias.normal_(0, 1.0);
    }
    if (length) {
      torch::NoGradGuard ng;  // weights of their own per layer
      m->len_w.normal_(1.0, 0.5);
    }
    if (qdist) {
      torch::NoGradGuard ng;  // away from the zero start
      m->dist_emb.normal_(0, 1.0);
    }
    if (feats) {
      torch::NoGradGuard ng;  // away from the zero start
      m->feat_emb.normal_(0, 1.0);
      m->tokdist_w.normal_(0, 1.0);
    }
    AdapterBatch b;
    b.chunks = c.chunks, b.target = c.target, b.cand = c.cand;
    b.x = torch::randn({c.L, c.T, 6}, torch::kDouble);
    b.h1 = b.x[0];
    b.labels = (torch::rand({c.T}, torch::kDouble) > 0.6).to(torch::kDouble);
    // The paper's KL and our objective (a sharpened teacher plus the top-2 set loss) both.
    auto loss = [&] {
      const AdapterLosses l = AdapterForward(*m, b, 2.0, DistillObjective{0.5, 0.7, 2});
      return l.kl.sum() + l.distill.sum() + l.bce;
    };
    size_t checked = 0;
    for (auto& p : m->named_parameters()) {
      CheckGradient(p.value(), loss, p.key() + ", hidden " + std::to_string(hidden));
      ++checked;
    }
    EXPECT_EQ(checked, size_t(6 + (hidden > 0 ? 2 : 0) + (buckets > 0 ? 1 : 0) + (length ? 1 : 0) + (qdist ? 1 : 0) +
                              (feats ? 2 : 0)));
    // The biases must reach the loss (a bias left out would pass the check with zero gradients).
    if (buckets > 0) EXPECT_GT(m->dist_bias.grad().abs().sum().item<double>(), 1e-3);
    if (length) EXPECT_GT(m->len_w.grad().abs().min().item<double>(), 1e-4);
    if (qdist) EXPECT_GT(m->dist_emb.grad().abs().sum().item<double>(), 1e-3);
    if (feats) EXPECT_GT(m->feat_emb.grad().abs().sum().item<double>(), 1e-3);
    if (feats) EXPECT_GT(m->tokdist_w.grad().abs().min().item<double>(), 1e-4);
  }
}

TEST(AdapterLosses, SharpenedKlAndTopKSetLossGradientWrtFeatures) {
  Case c;
  torch::manual_seed(7);
  const torch::Tensor q = Leaf(torch::randn({c.L, c.T, c.r})), k = Leaf(torch::randn({c.L, c.T, c.r}));
  auto logp = [&] { return ChunkLogProbs(q, ChunkKeys(k, c.chunks, "mean"), c.cand); };
  auto sharp = [&] { return ChunkKl(SharpenTarget(c.target, 0.4), logp(), c.cand).sum(); };
  auto set = [&] { return TopKSetLoss(c.target, logp(), c.chunks, 2).sum(); };
  CheckGradient(q, sharp, "d sharpened KL / d q");
  CheckGradient(k, sharp, "d sharpened KL / d k");
  CheckGradient(q, set, "d top-k set loss / d q");
  CheckGradient(k, set, "d top-k set loss / d k");
}

// SharpenTarget raises to 1/T and renormalises; TopKSetLoss is -log of the student's mass on
// the teacher's top k, written out row by row with a sort.
TEST(AdapterLosses, SharpenedTargetAndTopKSetLossByHand) {
  Case c;  // candidates per row: 0 0 0 1 1 2 2 2 3 3 4 4
  EXPECT_TRUE(torch::equal(SharpenTarget(c.target, 1.0), c.target));
  // Rows 0-2 have no candidate: they stay 0, in float (training's type) too, never NaN.
  EXPECT_TRUE(torch::isfinite(SharpenTarget(c.target.to(torch::kFloat), 0.5)).all().item<bool>());
  const torch::Tensor sharp = SharpenTarget(c.target, 0.5);
  for (int l = 0; l < c.L; ++l)
    for (int t = 0; t < c.T; ++t) {
      const int n = c.chunks.n_candidates(t);
      double sum_sq = 0;
      for (int ch = 0; ch < n; ++ch) sum_sq += std::pow(c.target[l][t][ch].item<double>(), 2);
      for (int ch = 0; ch < c.chunks.n_chunks(); ++ch) {
        const double want = ch < n ? std::pow(c.target[l][t][ch].item<double>(), 2) / sum_sq : 0.0;
        EXPECT_NEAR(sharp[l][t][ch].item<double>(), want, 1e-12) << l << " " << t << " " << ch;
      }
    }
  torch::manual_seed(8);
  const torch::Tensor logp = ChunkLogProbs(torch::randn({c.L, c.T, c.r}, torch::kDouble),
                                           ChunkKeys(torch::randn({c.L, c.T, c.r}, torch::kDouble), c.chunks, "mean"), c.cand);
  const int k = 2;
  const torch::Tensor got = TopKSetLoss(c.target, logp, c.chunks, k);
  for (int l = 0; l < c.L; ++l) {
    double sum = 0;
    int rows = 0;
    for (int t = 0; t < c.T; ++t) {
      const int n = c.chunks.n_candidates(t);
      if (n <= k) continue;
      std::vector<int> order(size_t(n), 0);
      for (int i = 0; i < n; ++i) order[size_t(i)] = i;
      std::sort(order.begin(), order.end(), [&](int a, int b) {
        return c.target[l][t][a].item<double>() > c.target[l][t][b].item<double>();
      });
      double mass = 0;
      for (int i = 0; i < k; ++i) mass += std::exp(logp[l][t][order[size_t(i)]].item<double>());
      sum += -std::log(mass), ++rows;
    }
    ASSERT_EQ(rows, 4) << "rows with 3 and 4 candidates";
    EXPECT_NEAR(got[l].item<double>(), sum / rows, 1e-12) << "layer " << l;
  }
  EXPECT_EQ(TopKSetLoss(c.target, logp, c.chunks, 4).abs().sum().item<double>(), 0.0) << "no row has more than 4";
}

// LengthBias is w_l * log(tokens of chunk c), written out for the hand-made chunks.
TEST(AdapterLosses, LengthBiasIsTheLayerWeightTimesLogChunkLength) {
  const Case c;  // chunks of 3, 2, 3, 2 and (open) 2 tokens
  const torch::Tensor w = torch::tensor({0.5, -2.0}, torch::kDouble);
  const torch::Tensor got = LengthBias(w, c.chunks);
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{2, 1, 5}));
  const int len[] = {3, 2, 3, 2, 2};
  for (int l = 0; l < 2; ++l)
    for (int ch = 0; ch < 5; ++ch)
      EXPECT_NEAR(got[l][0][ch].item<double>(), w[l].item<double>() * std::log(double(len[ch])), 1e-6) << l << " " << ch;
}

TEST(AdapterLosses, ServingRowsAreTheLatestSelectionTokenBeforeEachRow) {
  const Case c;  // chunks [0,3) [3,5) [5,8) [8,10), then [10,12) still open
  auto rows = [&](int delay) {
    const torch::Tensor s = ServingRows(c.chunks, delay);
    return std::vector<int64_t>(s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel());
  };
  // Delay 0: selections at the boundary tokens 2, 4, 7, 9.
  EXPECT_EQ(rows(0), (std::vector<int64_t>{0, 1, 2, 2, 2, 4, 4, 4, 7, 7, 9, 9}));
  // Delay 1: one token later, 3, 5, 8, 10; a selection never serves its own token.
  EXPECT_EQ(rows(1), (std::vector<int64_t>{0, 1, 2, 3, 3, 3, 5, 5, 5, 8, 8, 10}));
  // The served student scores row t with row ServingRows[t]'s query.
  AdapterHyperParams hp;
  hp.d_adapter = 4, hp.rank = 3, hp.query_target = "served", hp.boundary_delay = 1;
  AdapterModel m(2, 6, hp, 4);
  AdapterBatch b;
  b.chunks = c.chunks, b.target = c.target.to(torch::kFloat), b.cand = c.cand;
  b.x = torch::randn({2, c.T, 6}), b.h1 = b.x[0], b.labels = torch::zeros({c.T});
  const torch::Tensor keys = ChunkKeys(m->KeyFeatures(b.x), c.chunks, "boundary");
  const torch::Tensor want = ChunkLogProbs(m->QueryFeatures(b.x).index_select(1, ServingRows(c.chunks, 1)), keys, c.cand);
  EXPECT_TRUE(torch::equal(AdapterForward(*m, b, 1.0).logp, want));
  m->hp.query_target = "token";
  EXPECT_FALSE(torch::equal(AdapterForward(*m, b, 1.0).logp, want));
}

TEST(AdapterLosses, DistanceBucketsCountChunksBackFromTheQuerysChunk) {
  // Buckets 0..7 are distances 1..8; then two per doubling: 9-11 -> 8, 12-15 -> 9, 16 -> 10.
  const int want[][2] = {{1, 0}, {2, 1}, {8, 7}, {9, 8}, {11, 8}, {12, 9}, {15, 9}, {16, 10}, {23, 11}, {32, 12}};
  for (const auto& [d, b] : want) EXPECT_EQ(ChunkDistanceBucket(d, 64), b) << "distance " << d;
  EXPECT_EQ(ChunkDistanceBucket(1000, 12), 11) << "the last bucket holds every larger distance";
  // Tokens 0..19 each end a chunk; with 2 local chunks skipped, token t's candidates are
  // chunks 0 .. t-3, at distances t - c >= 3.
  ChunkPartition p = PartitionChunks(std::vector<uint8_t>(20, 1), 0);
  p.skip_local = 2;
  const torch::Tensor b = DistanceBuckets(p, 16);
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{20, 20}));
  EXPECT_EQ(b[19][0].item<int64_t>(), ChunkDistanceBucket(19, 16));  // 10
  EXPECT_EQ(b[19][16].item<int64_t>(), 2);                           // distance 3
  EXPECT_EQ(b[10][2].item<int64_t>(), 7);                            // distance 8
  EXPECT_EQ(b[10][8].item<int64_t>(), 0) << "no candidate: bucket 0 (masked out of the softmax)";
  // DistanceBias reads the layer's bucket bias.
  const torch::Tensor layer_bias = torch::arange(32, torch::kFloat64).view({2, 16});
  const torch::Tensor bias = DistanceBias(layer_bias, b);
  EXPECT_EQ(bias[1][19][16].item<double>(), 16 + 2);
  EXPECT_EQ(bias[0][19][0].item<double>(), 10);
}

TEST(AdapterLosses, KlIsZeroExactlyWhenStudentEqualsTeacher) {
  Case c;
  torch::manual_seed(4);
  const torch::Tensor q = torch::randn({c.L, c.T, c.r}, torch::kDouble);
  const torch::Tensor keys = ChunkKeys(torch::randn({c.L, c.T, c.r}, torch::kDouble), c.chunks, "boundary");
  const torch::Tensor logp = ChunkLogProbs(q, keys, c.cand);
  const torch::Tensor self = logp.exp() * c.cand.unsqueeze(0);
  EXPECT_LT(ChunkKl(self, logp, c.cand).abs().max().item<double>(), 1e-12);
  EXPECT_GT(ChunkKl(c.target, logp, c.cand).min().item<double>(), 1e-3);
  // Student probabilities sum to one over the candidates of every row that has one.
  const torch::Tensor sums = (logp.exp() * c.cand.unsqueeze(0)).sum(2);
  for (int t = 0; t < c.T; ++t) {
    if (c.chunks.n_candidates(t) > 0) EXPECT_NEAR(sums[0][t].item<double>(), 1.0, 1e-12);
  }
}

// With G score groups the student's probability is the mean of G softmaxes, group g reading
// features [g r/G, (g+1) r/G) at scale 1/sqrt(r/G): checked against the softmaxes written out
// for each group, and the inference path (ChunkLogProbs, chunk/chunk_score.h) against
// the training path on every row.
TEST(AdapterLosses, ScoreGroupsAreAMeanOfTheGroupsSoftmaxes) {
  const ChunkPartition chunks = PartitionChunks({0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0}, 0);
  const int64_t L = 2, T = 16, r = 6, G = 3, rg = 2, C = chunks.n_chunks();
  const torch::Tensor cand = CandidateMask(chunks);
  torch::manual_seed(6);
  const torch::Tensor q = torch::randn({L, T, r}, torch::kDouble) * 2;
  const torch::Tensor keys = ChunkKeys(torch::randn({L, T, r}, torch::kDouble) * 2, chunks, "boundary");
  const torch::Tensor bias = torch::randn({L, T, C}, torch::kDouble);
  const torch::Tensor got = ChunkLogProbs(q, keys, cand, bias, int(G));
  const torch::Tensor one = ChunkLogProbs(q, keys, cand, bias, 1);
  EXPECT_GT((got - one).abs().max().item<double>(), 0.1) << "the groups must change the scores";
  int rows = 0;
  for (int64_t l = 0; l < L; ++l)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t n = chunks.n_candidates(int(t));
      if (n == 0) continue;
      torch::Tensor p = torch::zeros({n}, torch::kDouble);
      std::vector<float> logits;  // (G, n) for the inference path
      for (int64_t g = 0; g < G; ++g) {
        const torch::Tensor s = (keys[l].slice(0, 0, n).slice(1, g * rg, (g + 1) * rg) *
                                 q[l][t].slice(0, g * rg, (g + 1) * rg)).sum(1) / std::sqrt(double(rg)) +
                                bias[l][t].slice(0, 0, n);
        p += torch::softmax(s, 0) / double(G);
        for (int64_t i = 0; i < n; ++i) logits.push_back(float(s[i].item<double>()));
      }
      std::vector<float> runtime;
      ChunkLogProbs(logits, int(G), runtime);
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_NEAR(got[l][t][i].item<double>(), std::log(p[i].item<double>()), 1e-12) << l << " " << t << " " << i;
        // float logits and float results: a few float ulps of values of order 1-10.
        EXPECT_NEAR(runtime[size_t(i)], got[l][t][i].item<double>(), 1e-5) << l << " " << t << " " << i;
      }
      ++rows;
    }
  EXPECT_EQ(rows, 2 * 13);  // every row from the first completed chunk's end on
}

TEST(AdapterMetrics, TopKRecallAndMassOnAHandMadeCase) {
  // One layer, 4 tokens, chunks {0},{1},{2},{3}: token 3 has candidates 0, 1, 2.
  const ChunkPartition p = PartitionChunks({1, 1, 1, 1}, 0);
  torch::Tensor target = torch::zeros({1, 4, 4}, torch::kDouble);
  target[0][3][0] = 0.6, target[0][3][1] = 0.3, target[0][3][2] = 0.1;
  torch::Tensor logp = torch::zeros({1, 4, 4}, torch::kDouble);
  logp[0][3][0] = std::log(0.2), logp[0][3][1] = std::log(0.1), logp[0][3][2] = std::log(0.7);
  TopKStats s;
  s.Add(logp, target, p, 2);  // rows with more than 2 candidates: token 3 only
  EXPECT_EQ(s.rows, 1);
  EXPECT_DOUBLE_EQ(s.recall(0), 0.5);  // student {2, 0}, teacher {0, 1}
  EXPECT_DOUBLE_EQ(s.mass(0), 0.7);    // 0.6 + 0.1
}

TEST(AdapterMetrics, BoundaryPrecisionRecallF1) {
  const PrecisionRecall b =
      CountBoundaries(torch::tensor({3.0, -3.0, 3.0, -3.0, 3.0}), torch::tensor({1.0f, 1.0f, 0.0f, 0.0f, 1.0f}), 0.5);
  EXPECT_EQ(b.tp, 2);
  EXPECT_EQ(b.fp, 1);
  EXPECT_EQ(b.fn, 1);
  EXPECT_DOUBLE_EQ(b.f1(), 2.0 / 3.0);
}

}  // namespace
}  // namespace chunkllm
