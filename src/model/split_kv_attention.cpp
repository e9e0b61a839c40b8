#include "model/split_kv_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "ggml-cpu.h"
#include "model/attention_op.h"
#include "model/vec16.h"

namespace chunkllm {

namespace {

using vec16::F32x16;
using vec16::kLanes;
using vec16::Load;
using vec16::Splat;
using vec16::Store;

constexpr int kBlock = 32;         // cache rows scored together: two lane groups of 16
constexpr int kMinPartRows = 256;  // a part is at least this long (the last may be shorter or empty)
constexpr int kMaxParts = 32;      // enough for any thread count this engine runs
constexpr int kMaxChunks = 16;     // head dims up to 256 (16 lanes a chunk)

#define CHUNKLLM_INLINE inline __attribute__((always_inline))

int PartLength(int n_kv, int parts) {
  const int len = (n_kv + parts - 1) / parts;
  return (len + kBlock - 1) / kBlock * kBlock;
}

// Asks for the lines of [p, p + bytes) to be brought into the caches.
CHUNKLLM_INLINE void Prefetch(const char* p, int bytes) {
  for (int off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
}

// Chunk c (16 values) of one cache row as f32: f16 converted in registers, f32 loaded.
template <bool kHalf>
CHUNKLLM_INLINE F32x16 Chunk(const char* row, int c) {
  if constexpr (kHalf) return vec16::LoadHalf(reinterpret_cast<const ggml_fp16_t*>(row) + c * kLanes);
  else return Load(reinterpret_cast<const float*>(row) + c * kLanes);
}

// Per thread, for one part: each KV head's R query rows, their running maximum m, sum s and
// weighted V sum o, the block's scores, and f32 copies of the block's rows for cache types that
// are neither f32 nor f16.
struct Scratch {
  std::vector<float> q, o, m, s, score, tile, mask, kconv, vconv;
  void Size(int R, int Hkv, int Dh, int T, int part_len) {
    q.resize(size_t(Hkv) * R * Dh);
    o.resize(size_t(Hkv) * R * Dh);
    m.resize(size_t(Hkv) * R);
    s.resize(size_t(Hkv) * R);
    score.resize(size_t(R) * kBlock);
    tile.resize(size_t(R) * kLanes * kLanes);
    mask.resize(size_t(T) * part_len);
    kconv.resize(size_t(kBlock) * Dh);
    vconv.resize(size_t(kBlock) * Dh);
  }
};

// score[i][jj] = q_i . k_jj for the block's rows: each K row is read once for all R query rows.
// The 16 lanes of a product are summed 16 rows at a time (vec16::TransposeSum).
template <bool kHalf, int DC>
CHUNKLLM_INLINE void ScoreBlock(const char* const* krow, int n_live, const float* __restrict q, int R, int dc, int Dh,
                                float* __restrict tile, float* __restrict score, size_t ahead) {
  if constexpr (DC > 0) dc = DC;
  for (int sub = 0; sub < n_live; sub += kLanes) {
    const int n = std::min(kLanes, n_live - sub);
    for (int jj = 0; jj < kLanes; ++jj) {
      if (jj >= n) {
        for (int i = 0; i < R; ++i) Store(&tile[(size_t(i) * kLanes + size_t(jj)) * kLanes], F32x16{});
        continue;
      }
      if (ahead) Prefetch(krow[sub + jj] + ahead, dc * kLanes * int(kHalf ? 2 : 4));
      F32x16 k[kMaxChunks];
      for (int c = 0; c < dc; ++c) k[c] = Chunk<kHalf>(krow[sub + jj], c);
      for (int i = 0; i < R; ++i) {
        const float* qi = q + size_t(i) * Dh;
        F32x16 a = Load(qi) * k[0];
        for (int c = 1; c < dc; ++c) a += Load(qi + c * kLanes) * k[c];
        Store(&tile[(size_t(i) * kLanes + size_t(jj)) * kLanes], a);
      }
    }
    for (int i = 0; i < R; ++i) {
      F32x16 rows[kLanes];
      for (int jj = 0; jj < kLanes; ++jj) rows[jj] = Load(&tile[(size_t(i) * kLanes + size_t(jj)) * kLanes]);
      Store(score + size_t(i) * kBlock + size_t(sub), vec16::TransposeSum(rows));
    }
  }
}

// o_i += sum_jj w[i][jj] v_jj for RT query rows at once, their sums held in registers while
// each V row is read once.
template <bool kHalf, int DC, int RT>
CHUNKLLM_INLINE void AccumulateRows(const char* const* vrow, int n_live, const float* __restrict w, float* __restrict o,
                                    int dc, int Dh, size_t ahead) {
  if constexpr (DC > 0) dc = DC;
  F32x16 acc[RT][kMaxChunks];
  for (int r = 0; r < RT; ++r)
    for (int c = 0; c < dc; ++c) acc[r][c] = Load(o + size_t(r) * Dh + c * kLanes);
  for (int jj = 0; jj < n_live; ++jj) {
    if (ahead) Prefetch(vrow[jj] + ahead, dc * kLanes * int(kHalf ? 2 : 4));
    F32x16 v[kMaxChunks];
    for (int c = 0; c < dc; ++c) v[c] = Chunk<kHalf>(vrow[jj], c);
    for (int r = 0; r < RT; ++r) {
      const F32x16 wr = Splat(w[size_t(r) * kBlock + size_t(jj)]);
      for (int c = 0; c < dc; ++c) acc[r][c] += wr * v[c];
    }
  }
  for (int r = 0; r < RT; ++r)
    for (int c = 0; c < dc; ++c) Store(o + size_t(r) * Dh + c * kLanes, acc[r][c]);
}

template <bool kHalf, int DC>
CHUNKLLM_INLINE void AccumulateBlock(const char* const* vrow, int n_live, const float* w, float* o, int R, int dc, int Dh,
                                     size_t ahead) {
  // Rows in tiles that fit the registers beside one V row (32 zmm with AVX-512).
  constexpr int kTile = DC > 0 && DC <= 4 ? 4 : 2;
  int i = 0;
  for (; i + kTile <= R; i += kTile, ahead = 0)  // the first tile asks for the next rows
    AccumulateRows<kHalf, DC, kTile>(vrow, n_live, w + size_t(i) * kBlock, o + size_t(i) * Dh, dc, Dh, ahead);
  for (; i < R; ++i, ahead = 0)
    AccumulateRows<kHalf, DC, 1>(vrow, n_live, w + size_t(i) * kBlock, o + size_t(i) * Dh, dc, Dh, ahead);
}

// Online softmax of one row over the block: the scores become weights e^(score - m), and what
// was summed before is rescaled to the new maximum m. Unused tail scores are -inf (weight 0).
CHUNKLLM_INLINE void SoftmaxBlock(float* score, float& m, float& s, float* o, int Dh) {
  F32x16 mx = Load(score);
  for (int jj = kLanes; jj < kBlock; jj += kLanes) mx = vec16::Max(mx, Load(score + jj));
  const float block_max = vec16::HorizontalMax(mx);
  if (block_max == -INFINITY) {  // this token reads none of the block
    std::fill(score, score + kBlock, 0.0f);
    return;
  }
  const float m_new = std::max(m, block_max);
  const float shrink = vec16::ExpNonPositive(m - m_new);
  m = m_new;
  F32x16 sum = {};
  for (int jj = 0; jj < kBlock; jj += kLanes) {
    const F32x16 w = vec16::ExpNonPositive(Load(score + jj) - m_new);
    Store(score + jj, w);
    sum += w;
  }
  s = s * shrink + vec16::HorizontalSum(sum);
  if (shrink != 1.0f)
    for (int d = 0; d < Dh; d += kLanes) Store(o + d, Load(o + d) * shrink);
}

struct Problem {
  const ggml_tensor *q, *k, *v, *mask;
  int Dh, H, T, n_kv, Hkv, group, R, parts, part_len;
  float scale;  // softmax scale, applied to q as it is read
};

// One part, rows [c0, c1): M, S and O of every query row. Blocks outer, KV heads inner, so the
// cache is read front to back, each position's row (all its KV heads) once.
template <bool kHalf, int DC>
void Part(const Problem& pb, Scratch& sc, int c0, int c1) {
  const int Dh = pb.Dh, R = pb.R, T = pb.T, group = pb.group, dc = Dh / kLanes;
  const bool convert = !kHalf && pb.k->type != GGML_TYPE_F32;
  // KV head g's rows are g * R + i, with i = t * group + j for head g * group + j of token t.
  for (int g = 0; g < pb.Hkv; ++g)
    for (int t = 0; t < T; ++t)
      for (int j = 0; j < group; ++j) {
        const char* src = static_cast<const char*>(pb.q->data) + size_t(g * group + j) * pb.q->nb[1] + size_t(t) * pb.q->nb[2];
        const float* qh = reinterpret_cast<const float*>(src);
        float* dst_q = &sc.q[(size_t(g) * R + size_t(t * group + j)) * Dh];
        for (int d = 0; d < Dh; ++d) dst_q[d] = qh[d] * pb.scale;
      }
  std::fill(sc.o.begin(), sc.o.end(), 0.0f);
  std::fill(sc.m.begin(), sc.m.end(), -INFINITY);
  std::fill(sc.s.begin(), sc.s.end(), 0.0f);

  const char* krow[kBlock];
  const char* vrow[kBlock];
  int live[kBlock];
  for (int b0 = c0; b0 < c1; b0 += kBlock) {
    // The block's rows that some token reads (the rest cost nothing).
    int n_live = 0;
    bool bias = false;  // a read row whose mask is not 0 (else adding the mask is skipped)
    for (int p = b0; p < std::min(c1, b0 + kBlock); ++p) {
      bool read = false;
      for (int t = 0; t < T; ++t) {
        const float mv = sc.mask[size_t(t) * pb.part_len + size_t(p - c0)];
        read |= mv != -INFINITY;
        bias |= mv != 0.0f;
      }
      if (read) live[n_live++] = p;
    }
    if (n_live == 0) continue;
    // Rows of the next block are asked for while this block computes, each row's lines as the
    // same head's row of this block is read (a burst of them all would overflow the core's
    // line-fill buffers): the memory stream alone keeps too few misses in flight. Only within
    // the part, and not for rows converted to scratch.
    const bool next = !convert && b0 + 2 * kBlock <= c1;
    const size_t k_ahead = next ? size_t(kBlock) * pb.k->nb[1] : 0, v_ahead = next ? size_t(kBlock) * pb.v->nb[1] : 0;
    for (int g = 0; g < pb.Hkv; ++g) {
      for (int jj = 0; jj < n_live; ++jj) {
        krow[jj] = static_cast<const char*>(pb.k->data) + size_t(live[jj]) * pb.k->nb[1] + size_t(g) * pb.k->nb[2];
        vrow[jj] = static_cast<const char*>(pb.v->data) + size_t(live[jj]) * pb.v->nb[1] + size_t(g) * pb.v->nb[2];
        if (convert) {  // q8_0 and other block types: to f32 rows first
          float* kf = &sc.kconv[size_t(jj) * Dh];
          float* vf = &sc.vconv[size_t(jj) * Dh];
          ggml_get_type_traits(pb.k->type)->to_float(krow[jj], kf, Dh);
          ggml_get_type_traits(pb.v->type)->to_float(vrow[jj], vf, Dh);
          krow[jj] = reinterpret_cast<const char*>(kf);
          vrow[jj] = reinterpret_cast<const char*>(vf);
        }
      }
      const size_t r0 = size_t(g) * R;
      ScoreBlock<kHalf, DC>(krow, n_live, &sc.q[r0 * Dh], R, dc, Dh, sc.tile.data(), sc.score.data(), k_ahead);
      for (int i = 0; i < R; ++i) {
        float* score = &sc.score[size_t(i) * kBlock];
        const float* mrow = &sc.mask[size_t(i / group) * pb.part_len];
        if (bias)
          for (int jj = 0; jj < n_live; ++jj) score[jj] += mrow[live[jj] - c0];
        for (int jj = n_live; jj < kBlock; ++jj) score[jj] = -INFINITY;
        SoftmaxBlock(score, sc.m[r0 + size_t(i)], sc.s[r0 + size_t(i)], &sc.o[(r0 + size_t(i)) * Dh], Dh);
      }
      AccumulateBlock<kHalf, DC>(vrow, n_live, sc.score.data(), &sc.o[r0 * Dh], R, dc, Dh, v_ahead);
    }
  }
}

// dst (Dh + 2, H * T, parts): for each part of the cache and each query row (token t, head h at
// column t * H + h), its maximum score M, sum S of e^(score - M) and sum O of e^(score - M) v.
void PartialsOp(ggml_tensor* dst, int ith, int nth, void* userdata) {
  Problem pb;
  pb.scale = ScaleFromUserdata(userdata);
  pb.q = dst->src[0], pb.k = dst->src[1], pb.v = dst->src[2], pb.mask = dst->src[3];
  pb.Dh = int(pb.q->ne[0]), pb.H = int(pb.q->ne[1]), pb.T = int(pb.q->ne[2]);
  pb.n_kv = int(pb.k->ne[1]), pb.Hkv = int(pb.k->ne[2]);
  pb.group = pb.H / pb.Hkv, pb.R = pb.group * pb.T;
  pb.parts = int(dst->ne[2]);
  pb.part_len = PartLength(pb.n_kv, pb.parts);
  const bool half = pb.k->type == GGML_TYPE_F16 && pb.v->type == GGML_TYPE_F16;
  const int dc = pb.Dh / kLanes;

  thread_local Scratch sc;
  sc.Size(pb.R, pb.Hkv, pb.Dh, pb.T, pb.part_len);
  float* out = static_cast<float*>(dst->data);
  const size_t col = size_t(pb.Dh) + 2;

  for (int part = ith; part < pb.parts; part += nth) {
    const int c0 = std::min(pb.n_kv, part * pb.part_len), c1 = std::min(pb.n_kv, c0 + pb.part_len);
    // The part's mask as f32, (c1 - c0, T); without a mask every row is read.
    std::fill(sc.mask.begin(), sc.mask.end(), 0.0f);
    if (pb.mask)
      for (int t = 0; t < pb.T; ++t)
        ggml_cpu_fp16_to_fp32(reinterpret_cast<const ggml_fp16_t*>(static_cast<const char*>(pb.mask->data) + size_t(t) * pb.mask->nb[1]) + c0,
                              &sc.mask[size_t(t) * pb.part_len], c1 - c0);
    // Head dims 64 and 128 get loops unrolled for their chunk count; others run the same code
    // with the count at run time. f32 rows are read in place, other types converted per block.
    if (half) {
      if (dc == 4) Part<true, 4>(pb, sc, c0, c1);
      else if (dc == 8) Part<true, 8>(pb, sc, c0, c1);
      else Part<true, 0>(pb, sc, c0, c1);
    } else {
      if (dc == 4) Part<false, 4>(pb, sc, c0, c1);
      else if (dc == 8) Part<false, 8>(pb, sc, c0, c1);
      else Part<false, 0>(pb, sc, c0, c1);
    }
    for (int g = 0; g < pb.Hkv; ++g) {
      for (int t = 0; t < pb.T; ++t)
        for (int j = 0; j < pb.group; ++j) {
          const int i = g * pb.R + t * pb.group + j, h = g * pb.group + j;
          float* dst_col = out + (size_t(part) * size_t(pb.H * pb.T) + size_t(t * pb.H + h)) * col;
          dst_col[0] = sc.m[size_t(i)];
          dst_col[1] = sc.s[size_t(i)];
          std::memcpy(dst_col + 2, &sc.o[size_t(i) * pb.Dh], sizeof(float) * size_t(pb.Dh));
        }
    }
  }
}

// dst (Dh, H, T): the parts of src[0] combined, sum_p e^(M_p - M) O_p / sum_p e^(M_p - M) S_p
// with M the largest M_p. A row that read nothing is 0 (as ggml's kernel gives).
void CombineOp(ggml_tensor* dst, int ith, int nth, void*) {
  const ggml_tensor* partials = dst->src[0];
  const int Dh = int(dst->ne[0]), rows = int(dst->ne[1] * dst->ne[2]), parts = int(partials->ne[2]);
  const size_t col = size_t(Dh) + 2;
  const float* in = static_cast<const float*>(partials->data);
  float* out = static_cast<float*>(dst->data);
  for (int r = ith; r < rows; r += nth) {
    float m = -INFINITY;
    for (int p = 0; p < parts; ++p) {
      const float* c = in + (size_t(p) * size_t(rows) + size_t(r)) * col;
      if (c[1] > 0.0f) m = std::max(m, c[0]);
    }
    float* o = out + size_t(r) * size_t(Dh);
    std::fill(o, o + Dh, 0.0f);
    if (m == -INFINITY) continue;
    float sum = 0.0f;
    for (int p = 0; p < parts; ++p) {
      const float* c = in + (size_t(p) * size_t(rows) + size_t(r)) * col;
      if (!(c[1] > 0.0f)) continue;
      const float w = vec16::ExpNonPositive(c[0] - m);
      sum += w * c[1];
      for (int d = 0; d < Dh; d += kLanes) Store(o + d, Load(o + d) + w * Load(c + 2 + d));
    }
    const float inv = 1.0f / sum;
    for (int d = 0; d < Dh; d += kLanes) Store(o + d, Load(o + d) * inv);
  }
}

#undef CHUNKLLM_INLINE

}  // namespace

bool SplitKvSupports(int head_dim) { return head_dim % kLanes == 0 && head_dim <= kLanes * kMaxChunks; }

int SplitKvParts(int n_kv) { return std::clamp(n_kv / kMinPartRows, 1, kMaxParts); }

ggml_tensor* SplitKvAttention(ggml_context* ctx, ggml_tensor* q, ggml_tensor* k, ggml_tensor* v,
                              ggml_tensor* mask, float scale) {
  const int64_t Dh = q->ne[0], H = q->ne[1], T = q->ne[2];
  if (q->type != GGML_TYPE_F32 || !ggml_is_contiguous(q)) Fail("split-KV attention: q must be contiguous f32");
  // One type for both: a block's rows are read by one code path (f16 in registers, else f32).
  if (k->type != v->type) Fail("split-KV attention: k is ", ggml_type_name(k->type), ", v ", ggml_type_name(v->type));
  CheckAttentionOperands("split-KV attention", q, k, v, mask);
  const int parts = SplitKvParts(int(k->ne[1]));
  ggml_tensor* args[4] = {q, k, v, mask};
  ggml_tensor* partials = ggml_custom_4d(ctx, GGML_TYPE_F32, Dh + 2, H * T, parts, 1, args, mask ? 4 : 3,
                                         PartialsOp, GGML_N_TASKS_MAX, ScaleAsUserdata(scale));
  ggml_tensor* combine_args[1] = {partials};
  return ggml_custom_4d(ctx, GGML_TYPE_F32, Dh, H, T, 1, combine_args, 1, CombineOp, GGML_N_TASKS_MAX, nullptr);
}

}  // namespace chunkllm
