// Split-KV attention (model/split_kv_attention.h, decode) and tiled attention
// (model/tiled_attention.h, prefill) against a double-precision reference, and ggml's
// flash-attention kernel (the path they replace) against the same reference.
//
// The cache is laid out as the session's ([Hkv*Dh, n_ctx] per layer, viewed as (Dh, n_kv, Hkv)),
// so the strides are the real ones. The reference reads the same K/V values the kernel reads
// (the cache dequantized): a quantized cache's own error is not the kernel's.
//
// Tolerances from the arithmetic, per output row, with u = 2^-24 (f32 rounding):
//   score error   e_s <= gamma(Dh) * max_p sum_d |q_d k_pd|  (a dot product of Dh terms)
//   the exponent s - M is rounded once more: <= u * max_p |s_p - M|; the exp polynomial ~2u
//   so each weight e^(s_p - M) is off by a relative e_w = e_s + u*max|s - M| + 4u at most,
//   the weights' sum and the weighted V sum are chains of at most len = part + parts terms:
//   |out - ref| <= max|v| * (2 e_w + 2 gamma(len)) (+ a factor 2 for the second-order terms).
// The tiled kernel's chains run over the whole cache, block after block: the value sum takes
// n_kv products and one rescaling per block, the weight sum a 16-lane block sum (8 additions deep)
// and a rescaling per block, so len = n_kv + 2 blocks + 10. A rescaling factor e^(m_old - m_new)
// multiplies the row's value sum and weight sum alike but not the block's new terms, so its error
// (2u of the polynomial, u of the product, u |m_old - m_new| of the difference) is a relative
// error of the earlier weights against the later: over at most `blocks` rescalings whose
// differences add up to at most the score spread, e_w grows by 3u blocks + u spread.
// ggml's kernel converts q to f16 (q8_0 for a q8_0 cache) before its dot products, which adds
// that conversion's error to each score, and keeps its V sum in f16 (unit roundoff 2^-11 per
// addition over n_kv terms, and the f16 rounding of each product): its bound takes
// gamma_f16(n_kv + 2) in place of gamma(len), which says nothing past n_kv = 2^11 (there only the
// trivial 2 max|v| holds), so the ggml comparison catches gross errors only.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ggml-cpu.h"
#include "ggml.h"
#include "model/attention_kernel.h"
#include "model/split_kv_attention.h"
#include "model/tiled_attention.h"

namespace chunkllm {
namespace {

struct Case {
  ggml_type type;
  int Dh, Hkv, group, T, n_kv;
  double mask_skip;      // fraction of positions masked out (per token)
  float q_spread = 2.0f;  // q's scale: scores of a few units; larger spreads the softmax
  bool causal = false;    // token t reads positions <= n_kv - T + t (a prompt's batch), then mask_skip
  int blind_token = -1;   // a token whose mask hides every position (its output is 0)
  bool no_mask = false;   // the kernels get no mask at all (every position read)
  bool bias = false;      // read positions carry finite mask values in [-4, 0] (some -0.0), added to the score
};

enum class Kernel { kSplitKv, kTiled, kGgml };

// Higham's gamma_n = n u / (1 - n u): the relative error of n roundings; none below n u = 1.
double Gamma(double n, double u) { return n * u < 1.0 ? n * u / (1.0 - n * u) : INFINITY; }

struct Run {
  std::vector<float> out;  // (Dh, H, T)
  double bound_split = 0, bound_ggml = 0;
  std::vector<double> ref;
};

// Builds q, the cache and the mask from the case and a seed; runs one kernel with n_threads.
class Fixture {
 public:
  explicit Fixture(const Case& c, uint32_t seed) : c_(c) {
    const int H = c.Hkv * c.group;
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    q_.resize(size_t(c.Dh) * H * c.T);
    // Scores of a few units, as a trained model's: q scaled like 1/sqrt(Dh) times a spread.
    for (auto& x : q_) x = normal(rng) * c.q_spread / std::sqrt(float(c.Dh));
    k_.resize(size_t(c.Dh) * c.Hkv * c.n_kv);
    v_.resize(k_.size());
    for (auto& x : k_) x = normal(rng);
    for (auto& x : v_) x = normal(rng);
    mask_.assign(size_t(c.n_kv) * c.T, 0.0f);
    for (int t = 0; t < c.T; ++t) {
      bool any = false;
      for (int p = 0; p < c.n_kv; ++p) {
        const bool future = c.causal && p > c.n_kv - c.T + t;
        if (future || unit(rng) < c.mask_skip) mask_[size_t(t) * c.n_kv + p] = -INFINITY;
        else any = true;
      }
      if (!any) mask_[size_t(t) * c.n_kv] = 0.0f;
      if (t == c.blind_token) std::fill_n(&mask_[size_t(t) * c.n_kv], c.n_kv, -INFINITY);
      for (int p = 0; c.bias && p < c.n_kv; ++p) {
        float& m = mask_[size_t(t) * c.n_kv + p];
        if (m == -INFINITY) continue;
        m = p % 7 == 0 ? -0.0f : ggml_fp16_to_fp32(ggml_fp32_to_fp16(float(-4.0 * unit(rng))));  // as f16 holds it
      }
    }
  }

  // Every query becomes the first one, w; rows [first, first + rows) hold the needle: keys 4 w
  // (scores ~8 above the others' ~N(0, 0.5) at q_spread 4, so ~97% of the weight) and values 1;
  // every other value row is 0.
  void PlantNeedle(int first, int rows) {
    const int Dh = c_.Dh;
    for (size_t r = 1; r < q_.size() / size_t(Dh); ++r) std::copy_n(q_.begin(), Dh, q_.begin() + r * Dh);
    std::fill(v_.begin(), v_.end(), 0.0f);
    for (int p = first; p < first + rows; ++p)
      for (int g = 0; g < c_.Hkv; ++g)
        for (int d = 0; d < Dh; ++d) {
          k_[(size_t(p) * c_.Hkv + g) * Dh + d] = 4.0f * q_[size_t(d)];
          v_[(size_t(p) * c_.Hkv + g) * Dh + d] = 1.0f;
        }
  }

  // The kernel's output (Dh, H, T) for the chosen kernel.
  std::vector<float> Compute(Kernel kernel, int n_threads) {
    const int H = c_.Hkv * c_.group, Dh = c_.Dh;
    const size_t mem = 64 * 1024 * 1024 + size_t(c_.n_kv) * c_.Hkv * Dh * 16;
    ggml_init_params ip = {mem, nullptr, false};
    ggml_context* ctx = ggml_init(ip);
    ggml_tensor* q = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, Dh, H, c_.T);
    std::memcpy(q->data, q_.data(), q_.size() * sizeof(float));
    ggml_tensor* kc = ggml_new_tensor_2d(ctx, c_.type, int64_t(c_.Hkv) * Dh, c_.n_kv);
    ggml_tensor* vc = ggml_new_tensor_2d(ctx, c_.type, int64_t(c_.Hkv) * Dh, c_.n_kv);
    Store(kc, k_);
    Store(vc, v_);
    ggml_tensor* mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, c_.n_kv, c_.T);
    auto* m16 = static_cast<ggml_fp16_t*>(mask->data);
    for (size_t i = 0; i < mask_.size(); ++i) m16[i] = ggml_fp32_to_fp16(mask_[i]);
    const size_t head = ggml_row_size(c_.type, Dh);
    ggml_tensor* K = ggml_view_3d(ctx, kc, Dh, c_.n_kv, c_.Hkv, kc->nb[1], head, 0);
    ggml_tensor* V = ggml_view_3d(ctx, vc, Dh, c_.n_kv, c_.Hkv, vc->nb[1], head, 0);
    const float scale = 1.0f / std::sqrt(float(Dh));
    ggml_tensor* out;
    if (kernel == Kernel::kSplitKv) {
      out = SplitKvAttention(ctx, q, K, V, c_.no_mask ? nullptr : mask, scale);
    } else if (kernel == Kernel::kTiled) {
      out = TiledAttention(ctx, q, K, V, c_.no_mask ? nullptr : mask, scale);
    } else {
      if (K->type == GGML_TYPE_F32) K = ggml_cast(ctx, K, GGML_TYPE_F16);
      if (V->type == GGML_TYPE_F32) V = ggml_cast(ctx, V, GGML_TYPE_F16);
      out = ggml_flash_attn_ext(ctx, ggml_permute(ctx, q, 0, 2, 1, 3), K, V, c_.no_mask ? nullptr : mask, scale, 0.0f,
                                0.0f);
      ggml_prec_set_acc(out, GGML_PREC_F32);
    }
    ggml_cgraph* gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, out);
    EXPECT_EQ(ggml_graph_compute_with_ctx(ctx, gf, n_threads), GGML_STATUS_SUCCESS);
    std::vector<float> r(size_t(Dh) * H * c_.T);
    std::memcpy(r.data(), out->data, r.size() * sizeof(float));
    ggml_free(ctx);
    return r;
  }

  // Reference in double over the cache's stored values, and each kernel's error bound per row.
  void Reference(std::vector<double>& ref, std::vector<double>& bound_split, std::vector<double>& bound_ggml,
                 std::vector<double>* bound_tiled = nullptr) {
    const int H = c_.Hkv * c_.group, Dh = c_.Dh;
    const double u = std::ldexp(1.0, -24), uh = std::ldexp(1.0, -11);
    const double scale = 1.0 / std::sqrt(double(Dh));
    ref.assign(size_t(Dh) * H * c_.T, 0.0);
    bound_split.assign(size_t(H) * c_.T, 0.0);
    bound_ggml.assign(size_t(H) * c_.T, 0.0);
    if (bound_tiled) bound_tiled->assign(size_t(H) * c_.T, 0.0);
    const int tiled_len = c_.n_kv + 2 * ((c_.n_kv + kTiledKeys - 1) / kTiledKeys) + 10;
    const int parts = SplitKvParts(c_.n_kv);
    const int part_len = (c_.n_kv + parts - 1) / parts + 32;
    double vmax = 0;
    for (float x : vq_) vmax = std::max(vmax, double(std::fabs(x)));
    for (int t = 0; t < c_.T; ++t)
      for (int h = 0; h < H; ++h) {
        const int g = h / c_.group;
        const float* qh = &q_[(size_t(t) * H + h) * Dh];
        std::vector<double> s(size_t(c_.n_kv), -INFINITY);
        double m = -INFINITY, abs_dot = 0, q_conv = 0;
        // ggml's kernel converts q to its K type's dot-product type first: f16 (for f16 and, cast,
        // f32 caches: relative uh per value) or q8_0 (per block of 32, steps of amax/127 in an f16
        // scale: at most amax/254 + amax uh off). dq holds each value's bound.
        std::vector<double> dq(static_cast<size_t>(Dh));
        for (int b = 0; b < Dh; b += 32) {
          double amax = 0;
          for (int i = b; i < std::min(Dh, b + 32); ++i) amax = std::max(amax, std::fabs(double(qh[i])));
          for (int i = b; i < std::min(Dh, b + 32); ++i)
            dq[size_t(i)] = c_.type == GGML_TYPE_Q8_0 ? amax / 254 + amax * uh : std::fabs(double(qh[i])) * uh;
        }
        double mask_abs = 0;  // the largest finite mask value's size: one more rounding per score
        for (int p = 0; p < c_.n_kv; ++p) {
          const float mv = c_.no_mask ? 0.0f : mask_[size_t(t) * c_.n_kv + p];
          if (mv == -INFINITY) continue;
          mask_abs = std::max(mask_abs, double(std::fabs(mv)));
          const float* kp = &kq_[(size_t(p) * c_.Hkv + g) * Dh];
          double d = 0, a = 0, e = 0;
          for (int i = 0; i < Dh; ++i) {
            d += double(qh[i]) * kp[i], a += std::fabs(double(qh[i]) * kp[i]);
            e += std::fabs(double(kp[i])) * dq[size_t(i)];
          }
          s[size_t(p)] = d * scale + mv;
          abs_dot = std::max(abs_dot, a * scale);
          q_conv = std::max(q_conv, e * scale);
          m = std::max(m, s[size_t(p)]);
        }
        double sum = 0, spread = 0;
        double* o = &ref[(size_t(t) * H + h) * Dh];
        for (int p = 0; p < c_.n_kv; ++p) {
          if (s[size_t(p)] == -INFINITY) continue;
          const double w = std::exp(s[size_t(p)] - m);
          spread = std::max(spread, m - s[size_t(p)]);
          sum += w;
          const float* vp = &vq_[(size_t(p) * c_.Hkv + g) * Dh];
          for (int i = 0; i < Dh; ++i) o[i] += w * vp[i];
        }
        for (int i = 0; i < Dh; ++i) o[i] = sum > 0 ? o[i] / sum : 0.0;  // a row that reads nothing: 0
        // Scores: Dh products plus the scaling of q (one rounding, relative u per product).
        const double e_s = Gamma(Dh + 1, u) * abs_dot + u * (abs_dot + mask_abs);
        const double e_w = 2 * e_s + u * 2 * spread + 4 * u;
        bound_split[size_t(t) * H + h] = 2 * vmax * (2 * e_w + 2 * Gamma(part_len + parts + 2, u));
        const double e_w_tiled = e_w + 3 * u * ((c_.n_kv + kTiledKeys - 1) / kTiledKeys) + u * spread;
        if (bound_tiled) (*bound_tiled)[size_t(t) * H + h] = 2 * vmax * (2 * e_w_tiled + 2 * Gamma(tiled_len, u));
        // ggml: K in f16 for f32 caches (its cast), q converted (above), and the V sum in f16.
        const double e_cast = (c_.type == GGML_TYPE_F32 ? Gamma(1, uh) * abs_dot * 2 : 0) + 2 * q_conv;
        // Past n_kv = 2^11 the f16 sum has no a-priori bound but the trivial one: the output and
        // the reference are both weighted means of the V rows, so they differ by at most 2 max|v|.
        bound_ggml[size_t(t) * H + h] = std::min(
            2 * vmax, 2 * vmax * (2 * (e_w + e_cast) + 2 * Gamma(c_.n_kv + 2, uh) + (c_.type == GGML_TYPE_F32 ? uh : 0)));
      }
  }

 private:
  // Writes rows into a cache tensor of the case's type and keeps the values it now holds.
  void Store(ggml_tensor* t, const std::vector<float>& x) {
    const size_t n = x.size();
    if (t->type == GGML_TYPE_F32) std::memcpy(t->data, x.data(), n * sizeof(float));
    else if (t->type == GGML_TYPE_F16) ggml_cpu_fp32_to_fp16(x.data(), static_cast<ggml_fp16_t*>(t->data), int64_t(n));
    else ggml_quantize_chunk(t->type, x.data(), t->data, 0, int64_t(n / t->ne[0]), t->ne[0], nullptr);
    std::vector<float> back(x);
    if (t->type != GGML_TYPE_F32) ggml_get_type_traits(t->type)->to_float(t->data, back.data(), int64_t(n));
    (&x == &k_ ? kq_ : vq_) = back;
  }

  Case c_;
  std::vector<float> q_, k_, v_, kq_, vq_, mask_;
};

void Check(const Case& c, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << ggml_type_name(c.type) << " Dh " << c.Dh << " Hkv " << c.Hkv << " group "
                                  << c.group << " T " << c.T << " n_kv " << c.n_kv << " skip " << c.mask_skip);
  Fixture f(c, seed);
  const std::vector<float> split1 = f.Compute(Kernel::kSplitKv, 1);
  const std::vector<float> split2 = f.Compute(Kernel::kSplitKv, 2);
  const std::vector<float> split3 = f.Compute(Kernel::kSplitKv, 3);
  const std::vector<float> ggml = f.Compute(Kernel::kGgml, 2);
  std::vector<double> ref, bound_split, bound_ggml;
  f.Reference(ref, bound_split, bound_ggml);
  // The parts do not depend on the thread count: the same bits for any number of threads.
  EXPECT_EQ(split1, split2);
  EXPECT_EQ(split1, split3);
  double worst_split = 0, worst_ggml = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const size_t row = i / size_t(c.Dh);
    ASSERT_TRUE(std::isfinite(split1[i])) << i;
    ASSERT_LE(std::fabs(split1[i] - ref[i]), bound_split[row]) << "split-KV, element " << i;
    ASSERT_LE(std::fabs(ggml[i] - ref[i]), bound_ggml[row]) << "ggml, element " << i;
    worst_split = std::max(worst_split, std::fabs(split1[i] - ref[i]) / bound_split[row]);
    worst_ggml = std::max(worst_ggml, std::fabs(ggml[i] - ref[i]) / bound_ggml[row]);
  }
  std::printf("  %s Dh %d Hkv %d group %d T %d n_kv %d: worst |error| / bound: split-KV %.3g, ggml %.3g\n",
              ggml_type_name(c.type), c.Dh, c.Hkv, c.group, c.T, c.n_kv, worst_split, worst_ggml);
}

// The tiled kernel on a batch: the same bits for 1, 2 and 3 threads, within its bound of the
// reference; ggml's kernel within its own (rows that read nothing are left to the tiled kernel).
void CheckTiled(const Case& c, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "tiled " << ggml_type_name(c.type) << " Dh " << c.Dh << " Hkv " << c.Hkv
                                  << " group " << c.group << " T " << c.T << " n_kv " << c.n_kv << " skip "
                                  << c.mask_skip << (c.causal ? " causal" : ""));
  Fixture f(c, seed);
  const std::vector<float> tiled1 = f.Compute(Kernel::kTiled, 1);
  EXPECT_EQ(tiled1, f.Compute(Kernel::kTiled, 2));
  EXPECT_EQ(tiled1, f.Compute(Kernel::kTiled, 3));
  const std::vector<float> ggml = f.Compute(Kernel::kGgml, 2);
  std::vector<double> ref, bound_split, bound_ggml, bound_tiled;
  f.Reference(ref, bound_split, bound_ggml, &bound_tiled);
  const int H = c.Hkv * c.group;
  double worst_tiled = 0, worst_ggml = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const size_t row = i / size_t(c.Dh);
    ASSERT_TRUE(std::isfinite(tiled1[i])) << i;
    ASSERT_LE(std::fabs(tiled1[i] - ref[i]), bound_tiled[row]) << "tiled, element " << i;
    worst_tiled = std::max(worst_tiled, std::fabs(tiled1[i] - ref[i]) / bound_tiled[row]);
    if (int(row) / H == c.blind_token) {
      EXPECT_EQ(tiled1[i], 0.0f) << "a token that reads nothing";
      continue;
    }
    ASSERT_LE(std::fabs(ggml[i] - ref[i]), bound_ggml[row]) << "ggml, element " << i;
    worst_ggml = std::max(worst_ggml, std::fabs(ggml[i] - ref[i]) / bound_ggml[row]);
  }
  std::printf("  tiled %s Dh %d Hkv %d group %d T %d n_kv %d: worst |error| / bound: tiled %.3g, ggml %.3g\n",
              ggml_type_name(c.type), c.Dh, c.Hkv, c.group, c.T, c.n_kv, worst_tiled, worst_ggml);
}

TEST(TiledAttention, MatchesDoubleReferenceAcrossShapesAndTypes) {
  uint32_t seed = 300;
  for (ggml_type type : {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0})
    for (int Dh : {64, 128})
      for (auto [Hkv, group] : {std::pair{1, 1}, {2, 3}, {1, 8}})
        for (auto [T, n_kv] : {std::pair{5, 5}, {37, 100}, {64, 64}, {130, 700}}) {
          Case c{type, Dh, Hkv, group, T, n_kv, 0.0};
          c.causal = true;
          CheckTiled(c, seed++);
        }
}

// Random masks (a sparse prefill's gathered rows, padding), blocks no token of a tile reads,
// a token that reads nothing, a cache whose last block is short, other head dims (the run-time
// vector count), wide score spreads, and a batch of 512 at a depth of 4K.
TEST(TiledAttention, MasksOtherHeadDimsAndLongBatches) {
  uint32_t seed = 400;
  for (double skip : {0.3, 0.97}) CheckTiled({GGML_TYPE_F16, 64, 2, 3, 40, 1536, skip}, seed++);
  Case blind{GGML_TYPE_F16, 64, 2, 3, 9, 333, 0.2};
  blind.blind_token = 4;
  CheckTiled(blind, seed++);
  for (ggml_type type : {GGML_TYPE_F32, GGML_TYPE_F16})
    for (int Dh : {16, 96, 256}) CheckTiled({type, Dh, 2, 2, 21, 190, 0.3}, seed++);
  Case wide{GGML_TYPE_F16, 64, 2, 3, 48, 900, 0.1, 8.0f};
  wide.causal = true;
  CheckTiled(wide, seed++);
  Case deep{GGML_TYPE_F16, 64, 2, 3, 512, 4608, 0.0};
  deep.causal = true;
  CheckTiled(deep, seed++);
  CheckTiled({GGML_TYPE_Q8_0, 128, 1, 8, 33, 2000, 0.5}, seed++);
  // No mask at all (every block read, a short last block without bias), and finite mask values
  // added to the scores (-0.0 among them), in both kernels.
  Case open{GGML_TYPE_F16, 64, 2, 3, 12, 100, 0.0};
  open.no_mask = true;
  CheckTiled(open, seed++);
  Check(Case{GGML_TYPE_F16, 64, 2, 3, 3, 100, 0.0, 2.0f, false, -1, true}, seed++);
  Case biased{GGML_TYPE_F16, 64, 2, 3, 20, 300, 0.2};
  biased.bias = true;
  CheckTiled(biased, seed++);
  Check(Case{GGML_TYPE_F16, 64, 2, 3, 2, 300, 0.2, 2.0f, false, -1, false, true}, seed++);
  // A GQA group of 72 (tiles clamped to 4 tokens).
  CheckTiled({GGML_TYPE_F16, 16, 1, 72, 9, 80, 0.1}, seed++);
}

// A needle the long case cannot blur: every value row 0 but one block's, whose keys match the
// queries; dropping or mis-weighting that block costs O(1), far above the bound.
TEST(TiledAttention, ANeedleBlockAtDepthIsWeightedRight) {
  Case c{GGML_TYPE_F16, 64, 2, 3, 128, 4608, 0.0, 4.0f};
  c.causal = true;
  Fixture f(c, 77);
  f.PlantNeedle(/*first=*/1984, /*rows=*/64);
  const std::vector<float> out = f.Compute(Kernel::kTiled, 2);  // first: it stores the cache the reference reads
  std::vector<double> ref, bound_split, bound_ggml, bound_tiled;
  f.Reference(ref, bound_split, bound_ggml, &bound_tiled);
  double largest = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_LE(std::fabs(out[i] - ref[i]), bound_tiled[i / size_t(c.Dh)]) << i;
    largest = std::max(largest, std::fabs(ref[i]));
  }
  EXPECT_GT(largest, 0.9) << "the needle must carry the weight";
}

// A defect the bound must catch: a head reading the wrong KV head is off by O(1).
TEST(TiledAttention, BoundIsTightEnoughToSeeAWrongHead) {
  Case c{GGML_TYPE_F16, 64, 2, 3, 8, 512, 0.0};
  Fixture f(c, 3);
  const std::vector<float> out = f.Compute(Kernel::kTiled, 2);
  std::vector<double> ref, bound_split, bound_ggml, bound_tiled;
  f.Reference(ref, bound_split, bound_ggml, &bound_tiled);
  int over = 0;  // token 0's head 3 (KV head 1) against the reference's head 0 (KV head 0)
  for (int d = 0; d < c.Dh; ++d)
    if (std::fabs(out[size_t(3 * c.Dh + d)] - ref[size_t(d)]) > bound_tiled[0]) ++over;
  EXPECT_GT(over, c.Dh / 2);
}

TEST(SplitKvAttention, MatchesDoubleReferenceAcrossShapesAndTypes) {
  uint32_t seed = 1;
  for (ggml_type type : {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0})
    for (int Dh : {64, 128})
      for (auto [Hkv, group] : {std::pair{1, 1}, {2, 3}, {2, 4}, {1, 8}})
        for (int n_kv : {1, 7, 256, 1000, 4096}) Check({type, Dh, Hkv, group, 1, n_kv, 0.0}, seed++);
}

// Query rows are taken in sets that fit the registers (6 rows at head dim 64; at 128, 4 from
// f16 and 3 from other types); these groupings make sets that end inside a KV head's rows or
// span several heads (Qwen2.5-0.5B's 14 heads over 2, 4 KV heads of 2, Llama-3-8B's 32 over 8,
// 2 KV heads of 8 for 5 tokens: 40 rows a head, more than any set holds). With several sets a
// part is walked in sub-blocks of ~256 KiB, each row's softmax carried from one to the next: at
// 8 KV heads of 128 an f16 position is 4 KiB, so 777 rows (3 parts of 288) make sub-blocks of 64
// rows.
TEST(SplitKvAttention, RowSetsAcrossKvHeads) {
  uint32_t seed = 50;
  for (ggml_type type : {GGML_TYPE_F16, GGML_TYPE_Q8_0})
    for (int Dh : {64, 128}) {
      for (auto [Hkv, group] : {std::pair{2, 7}, {4, 2}, {8, 1}, {8, 4}})
        for (int T : {1, 3}) Check({type, Dh, Hkv, group, T, 777, T > 1 ? 0.3 : 0.0}, seed++);
      Check({type, Dh, 2, 8, 5, 777, 0.3}, seed++);
    }
}

TEST(SplitKvAttention, MasksAndSeveralTokens) {
  uint32_t seed = 100;
  for (ggml_type type : {GGML_TYPE_F16, GGML_TYPE_Q8_0})
    for (int T : {1, 2, 4})
      for (double skip : {0.3, 0.97}) Check({type, 64, 2, 3, T, 1536, skip}, seed++);
}

TEST(SplitKvAttention, LongCache) {
  Check({GGML_TYPE_F16, 64, 2, 3, 1, 65536, 0.0}, 7);
  Check({GGML_TYPE_Q8_0, 128, 1, 8, 1, 32768, 0.5}, 8);
}

// Head dims other than 64 and 128 run the same code with the chunk count at run time; f32
// caches with several tokens and masks; a cache whose last parts are empty (8,200 rows in 32
// parts of 288); scores spread wide, so the softmax is dominated by a few rows at every length.
TEST(SplitKvAttention, OtherHeadDimsEmptyPartsAndWideScores) {
  uint32_t seed = 200;
  for (ggml_type type : {GGML_TYPE_F32, GGML_TYPE_F16})
    for (int Dh : {16, 96, 256}) Check({type, Dh, 2, 2, 2, 700, 0.3}, seed++);
  Check({GGML_TYPE_F32, 64, 2, 3, 3, 1536, 0.5}, seed++);
  Check({GGML_TYPE_F16, 64, 2, 3, 1, 8200, 0.0}, seed++);
  Check({GGML_TYPE_Q8_0, 64, 2, 3, 2, 8200, 0.2}, seed++);
  for (int n_kv : {7, 300, 4096}) Check({GGML_TYPE_F16, 64, 2, 3, 2, n_kv, 0.1, 8.0f}, seed++);
}

// A defect the bounds must catch: a head reading the wrong KV head is off by O(1).
TEST(SplitKvAttention, BoundsAreTightEnoughToSeeAWrongHead) {
  Case c{GGML_TYPE_F16, 64, 2, 3, 1, 512, 0.0};
  Fixture f(c, 3);
  const std::vector<float> out = f.Compute(Kernel::kSplitKv, 2);
  std::vector<double> ref, bound_split, bound_ggml;
  f.Reference(ref, bound_split, bound_ggml);
  // Swap the outputs of heads 0 and 3 (KV heads 0 and 1): the check must fail.
  int over = 0;
  for (int d = 0; d < c.Dh; ++d)
    if (std::fabs(out[size_t(3 * c.Dh + d)] - ref[size_t(d)]) > bound_split[0]) ++over;
  EXPECT_GT(over, c.Dh / 2);
}

TEST(SplitKvAttention, KernelNames) {
  EXPECT_EQ(AttentionKernelFromName("ggml"), AttentionKernel::kGgml);
  EXPECT_EQ(AttentionKernelFromName("chunkllm"), AttentionKernel::kChunkllm);
  EXPECT_ANY_THROW(AttentionKernelFromName("splitkv"));
  EXPECT_ANY_THROW(AttentionKernelFromName("fast"));
}

}  // namespace
}  // namespace chunkllm

