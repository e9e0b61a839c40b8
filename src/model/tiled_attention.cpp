#include "model/tiled_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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

constexpr int kKeys = kTiledKeys;       // cache rows per block: 4 vectors of scores per query row
constexpr int kKeyVecs = kKeys / kLanes;
constexpr int kScoreRows = 4;           // query rows whose scores share the registers (4 x 4 vectors)
constexpr int kMaxChunks = 16;          // head dims up to 256
// Query rows per tile, about (GQA group x tokens): every tile reads the whole cache of its KV
// head, so larger tiles read it fewer times; 256 rows keep the tile's ~220 KB (Dh 64) in L2.
constexpr int kTileRows = 256;

#define CHUNKLLM_INLINE inline __attribute__((always_inline))

struct Problem {
  const ggml_tensor *q, *k, *v, *mask;
  int Dh, H, T, n_kv, Hkv, group, tile_tokens, n_tiles;
  float scale;
};

// One thread's working set for a tile (R query rows) and a block: ~220 KB at Dh 64, in L2.
struct Scratch {
  std::vector<float> q;       // (R, Dh) the tile's query rows, scaled
  std::vector<float> o;       // (R, Dh) weighted value sums
  std::vector<float> m, s;    // (R) running maximum score and sum of weights
  std::vector<float> shrink;  // (R) e^(m_old - m_new) of the current block
  std::vector<float> p;       // (R, kKeys) the block's scores, then its weights
  std::vector<float> kt;      // (Dh, kKeys) the block's keys as f32, transposed
  std::vector<float> vb;      // (kKeys, Dh) the block's values as f32
  std::vector<float> mask;    // (tile tokens, kKeys)
  std::vector<float> row;     // (Dh) a row of a quantized cache, converted
  void Size(int R, int Dh, int tile_tokens) {
    q.resize(size_t(R) * Dh);
    o.resize(size_t(R) * Dh);
    m.resize(size_t(R));
    s.resize(size_t(R));
    shrink.resize(size_t(R));
    p.resize(size_t(R) * kKeys);
    kt.resize(size_t(Dh) * kKeys);
    vb.resize(size_t(kKeys) * Dh);
    mask.resize(size_t(tile_tokens) * kKeys);
    row.resize(size_t(Dh));
  }
};

// Row j of a cache view (Dh values of KV head g at position pos) as f32: f16 converted in
// registers, f32 read, other types through ggml's converter into `tmp`. dst receives Dh floats
// with stride `step` (1 for values, kKeys for the transposed keys).
void RowToF32(const ggml_tensor* t, int pos, int g, int Dh, float* tmp, float* dst, int step) {
  const char* src = static_cast<const char*>(t->data) + size_t(pos) * t->nb[1] + size_t(g) * t->nb[2];
  const float* f = nullptr;
  if (t->type == GGML_TYPE_F16) {
    for (int c = 0; c < Dh; c += kLanes) Store(tmp + c, vec16::LoadHalf(reinterpret_cast<const ggml_fp16_t*>(src) + c));
    f = tmp;
  } else if (t->type == GGML_TYPE_F32) {
    f = reinterpret_cast<const float*>(src);
  } else {
    ggml_get_type_traits(t->type)->to_float(src, tmp, Dh);
    f = tmp;
  }
  if (step == 1) {
    std::memcpy(dst, f, sizeof(float) * size_t(Dh));
  } else {
    for (int d = 0; d < Dh; ++d) dst[size_t(d) * size_t(step)] = f[d];
  }
}

// p[i][0..kKeys) = q_i . k_j for n_rows query rows: 4 rows x 64 keys in 16 registers, the head
// dimension walked once per 4 rows (each step: 4 key vectors, 4 broadcasts, 16 multiply-adds).
CHUNKLLM_INLINE void Scores(const float* __restrict q, const float* __restrict kt, int n_rows, int Dh,
                            float* __restrict p) {
  int i = 0;
  for (; i + kScoreRows <= n_rows; i += kScoreRows) {
    F32x16 acc[kScoreRows][kKeyVecs] = {};
    for (int d = 0; d < Dh; ++d) {
      F32x16 k[kKeyVecs];
      for (int c = 0; c < kKeyVecs; ++c) k[c] = Load(kt + size_t(d) * kKeys + c * kLanes);
      for (int r = 0; r < kScoreRows; ++r) {
        const F32x16 qd = Splat(q[size_t(i + r) * Dh + d]);
        for (int c = 0; c < kKeyVecs; ++c) acc[r][c] += qd * k[c];
      }
    }
    for (int r = 0; r < kScoreRows; ++r)
      for (int c = 0; c < kKeyVecs; ++c) Store(p + size_t(i + r) * kKeys + c * kLanes, acc[r][c]);
  }
  for (; i < n_rows; ++i) {
    F32x16 acc[kKeyVecs] = {};
    for (int d = 0; d < Dh; ++d) {
      const F32x16 qd = Splat(q[size_t(i) * Dh + d]);
      for (int c = 0; c < kKeyVecs; ++c) acc[c] += qd * Load(kt + size_t(d) * kKeys + c * kLanes);
    }
    for (int c = 0; c < kKeyVecs; ++c) Store(p + size_t(i) * kKeys + c * kLanes, acc[c]);
  }
}

// o_i = o_i * shrink_i + sum_j p[i][j] v_j for RT rows at once, their sums in registers while
// each value row of the block is read once.
template <int DC, int RT>
CHUNKLLM_INLINE void AccumulateRows(const float* __restrict vb, int n_keys, const float* __restrict p,
                                    const float* __restrict shrink, float* __restrict o, int dc, int Dh) {
  if constexpr (DC > 0) dc = DC;
  F32x16 acc[RT][kMaxChunks];
  for (int r = 0; r < RT; ++r) {
    const F32x16 sh = Splat(shrink[r]);
    for (int c = 0; c < dc; ++c) acc[r][c] = Load(o + size_t(r) * Dh + c * kLanes) * sh;
  }
  for (int j = 0; j < n_keys; ++j) {
    F32x16 v[kMaxChunks];
    for (int c = 0; c < dc; ++c) v[c] = Load(vb + size_t(j) * Dh + c * kLanes);
    for (int r = 0; r < RT; ++r) {
      const F32x16 w = Splat(p[size_t(r) * kKeys + j]);
      for (int c = 0; c < dc; ++c) acc[r][c] += w * v[c];
    }
  }
  for (int r = 0; r < RT; ++r)
    for (int c = 0; c < dc; ++c) Store(o + size_t(r) * Dh + c * kLanes, acc[r][c]);
}

template <int DC>
void Accumulate(const float* vb, int n_keys, const float* p, const float* shrink, float* o, int n_rows, int Dh) {
  // Rows in tiles that fit the registers beside one value row (32 zmm with AVX-512).
  constexpr int kTile = DC > 0 && DC <= 4 ? 4 : DC > 0 && DC <= 8 ? 2 : 1;
  const int dc = Dh / kLanes;
  int i = 0;
  for (; i + kTile <= n_rows; i += kTile)
    AccumulateRows<DC, kTile>(vb, n_keys, p + size_t(i) * kKeys, shrink + i, o + size_t(i) * Dh, dc, Dh);
  for (; i < n_rows; ++i) AccumulateRows<DC, 1>(vb, n_keys, p + size_t(i) * kKeys, shrink + i, o + size_t(i) * Dh, dc, Dh);
}

// Online softmax of one row over the block: the scores become weights e^(score - m), the row's
// sum is rescaled to the new maximum, and shrink says by how much its value sum must be.
CHUNKLLM_INLINE void Softmax(float* p, float& m, float& s, float& shrink) {
  F32x16 mx = Load(p);
  for (int c = 1; c < kKeyVecs; ++c) mx = vec16::Max(mx, Load(p + c * kLanes));
  const float m_new = vec16::RunningMax(mx, m);
  if (m_new == -INFINITY) {  // this row has read nothing yet, nor does it in this block
    std::fill(p, p + kKeys, 0.0f);
    shrink = 1.0f;
    return;
  }
  shrink = vec16::ExpNonPositive(m - m_new);
  m = m_new;
  F32x16 sum = {};
  for (int c = 0; c < kKeyVecs; ++c) {
    const F32x16 w = vec16::ExpNonPositive(Load(p + c * kLanes) - m_new);
    Store(p + c * kLanes, w);
    sum += w;
  }
  s = s * shrink + vec16::HorizontalSum(sum);
}

// The tile's mask over block [b0, b0 + n). Returns false when no token of the tile reads any
// row of the block. bias: some value is not 0 (a hidden row, or a bias to add); then the mask is
// written as f32 (tile tokens, kKeys) with -inf past n. Most blocks of a prompt are all 0 or all
// -inf: the f16 bits are compared (0x0000 is 0, 0xFC00 is -inf) before anything is converted.
bool BlockMask(const Problem& pb, Scratch& sc, int t0, int n_tok, int b0, int n, bool& bias) {
  if (!pb.mask) {
    bias = false;
    return true;
  }
  const auto row16 = [&](int t) {
    return reinterpret_cast<const uint16_t*>(static_cast<const char*>(pb.mask->data) + size_t(t0 + t) * pb.mask->nb[1]) + b0;
  };
  // Four values a word: OR of all (0 when every one is +0), and whether all are -inf.
  constexpr uint64_t kNegInf4 = 0xFC00FC00FC00FC00ull;
  uint64_t any_bits = 0;
  bool all_hidden = true;
  for (int t = 0; t < n_tok; ++t) {
    const uint16_t* m = row16(t);
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      uint64_t w;
      std::memcpy(&w, m + j, sizeof w);
      any_bits |= w;
      all_hidden &= w == kNegInf4;
    }
    for (; j < n; ++j) {
      any_bits |= m[j];
      all_hidden &= m[j] == 0xFC00;
    }
  }
  if (all_hidden) return false;
  bias = any_bits != 0;
  if (bias) {
    for (int t = 0; t < n_tok; ++t) {
      float* row = &sc.mask[size_t(t) * kKeys];
      ggml_cpu_fp16_to_fp32(reinterpret_cast<const ggml_fp16_t*>(row16(t)), row, n);
      std::fill(row + n, row + kKeys, -INFINITY);
    }
  }
  return true;
}

// KV head g, tokens [t0, t0 + n_tok): every block of the cache, then the outputs.
template <int DC>
void Tile(const Problem& pb, Scratch& sc, int g, int t0, int n_tok, float* out) {
  const int Dh = pb.Dh, group = pb.group, R = n_tok * group;
  // Row i = t * group + j is head g * group + j of token t0 + t.
  for (int t = 0; t < n_tok; ++t)
    for (int j = 0; j < group; ++j) {
      const float* qh = reinterpret_cast<const float*>(static_cast<const char*>(pb.q->data) +
                                                       size_t(g * group + j) * pb.q->nb[1] + size_t(t0 + t) * pb.q->nb[2]);
      float* dst = &sc.q[size_t(t * group + j) * Dh];
      for (int d = 0; d < Dh; ++d) dst[d] = qh[d] * pb.scale;
    }
  std::fill(sc.o.begin(), sc.o.begin() + size_t(R) * Dh, 0.0f);
  std::fill(sc.m.begin(), sc.m.begin() + R, -INFINITY);
  std::fill(sc.s.begin(), sc.s.begin() + R, 0.0f);

  for (int b0 = 0; b0 < pb.n_kv; b0 += kKeys) {
    const int n = std::min(kKeys, pb.n_kv - b0);
    bool bias = false;
    if (!BlockMask(pb, sc, t0, n_tok, b0, n, bias)) continue;
    for (int j = 0; j < n; ++j) {
      RowToF32(pb.k, b0 + j, g, Dh, sc.row.data(), sc.kt.data() + j, kKeys);
      RowToF32(pb.v, b0 + j, g, Dh, sc.row.data(), sc.vb.data() + size_t(j) * Dh, 1);
    }
    for (int j = n; j < kKeys; ++j)  // past the cache: zero keys, whose -inf mask hides them
      for (int d = 0; d < Dh; ++d) sc.kt[size_t(d) * kKeys + j] = 0.0f;
    Scores(sc.q.data(), sc.kt.data(), R, Dh, sc.p.data());
    for (int i = 0; i < R; ++i) {
      float* p = &sc.p[size_t(i) * kKeys];
      if (bias) {
        // A hidden key's score is -inf whatever its product (an inf in a hidden row must not
        // become NaN, as ggml's kernel, which skips hidden rows, would not either).
        const float* mrow = &sc.mask[size_t(i / group) * kKeys];
        for (int c = 0; c < kKeyVecs; ++c) {
          const F32x16 m = Load(mrow + c * kLanes);
          Store(p + c * kLanes, m == -INFINITY ? m : Load(p + c * kLanes) + m);
        }
      } else if (n < kKeys) {
        std::fill(p + n, p + kKeys, -INFINITY);  // past the cache
      }
      Softmax(p, sc.m[size_t(i)], sc.s[size_t(i)], sc.shrink[size_t(i)]);
    }
    Accumulate<DC>(sc.vb.data(), n, sc.p.data(), sc.shrink.data(), sc.o.data(), R, Dh);
  }

  // out (Dh, H, T): token t0 + t, head g * group + j.
  for (int t = 0; t < n_tok; ++t)
    for (int j = 0; j < group; ++j) {
      const int i = t * group + j;
      float* dst = out + (size_t(t0 + t) * pb.H + size_t(g * group + j)) * Dh;
      const float* o = &sc.o[size_t(i) * Dh];
      const float inv = sc.s[size_t(i)] > 0.0f ? 1.0f / sc.s[size_t(i)] : 0.0f;
      for (int d = 0; d < Dh; d += kLanes) Store(dst + d, Load(o + d) * inv);
    }
}

// dst (Dh, H, T). Tasks (tile, KV head) in turn over the threads; each task's arithmetic is
// the same whichever thread runs it.
void TiledOp(ggml_tensor* dst, int ith, int nth, void* userdata) {
  Problem pb;
  pb.scale = ScaleFromUserdata(userdata);
  pb.q = dst->src[0], pb.k = dst->src[1], pb.v = dst->src[2], pb.mask = dst->src[3];
  pb.Dh = int(pb.q->ne[0]), pb.H = int(pb.q->ne[1]), pb.T = int(pb.q->ne[2]);
  pb.n_kv = int(pb.k->ne[1]), pb.Hkv = int(pb.k->ne[2]);
  pb.group = pb.H / pb.Hkv;
  pb.tile_tokens = TiledAttentionTileTokens(pb.group);
  pb.n_tiles = (pb.T + pb.tile_tokens - 1) / pb.tile_tokens;
  thread_local Scratch sc;
  sc.Size(pb.tile_tokens * pb.group, pb.Dh, pb.tile_tokens);
  float* out = static_cast<float*>(dst->data);
  const int dc = pb.Dh / kLanes;
  for (int task = ith; task < pb.n_tiles * pb.Hkv; task += nth) {
    const int tile = task / pb.Hkv, g = task % pb.Hkv;
    const int t0 = tile * pb.tile_tokens, n_tok = std::min(pb.tile_tokens, pb.T - t0);
    // Head dims 64 and 128 get loops unrolled for their vector count; others run the same code
    // with the count at run time.
    if (dc == 4) Tile<4>(pb, sc, g, t0, n_tok, out);
    else if (dc == 8) Tile<8>(pb, sc, g, t0, n_tok, out);
    else Tile<0>(pb, sc, g, t0, n_tok, out);
  }
}

#undef CHUNKLLM_INLINE

}  // namespace

int TiledAttentionTileTokens(int group) {
  // About kTileRows query rows, a multiple of 4 tokens (so of kScoreRows rows).
  return std::max(4, (kTileRows / std::max(1, group)) / 4 * 4);
}

ggml_tensor* TiledAttention(ggml_context* ctx, ggml_tensor* q, ggml_tensor* k, ggml_tensor* v, ggml_tensor* mask,
                            float scale) {
  const int64_t Dh = q->ne[0], H = q->ne[1], T = q->ne[2];
  if (q->type != GGML_TYPE_F32 || q->nb[0] != sizeof(float)) Fail("tiled attention: q must be f32 with contiguous rows");
  CheckAttentionOperands("tiled attention", q, k, v, mask);
  ggml_tensor* args[4] = {q, k, v, mask};
  return ggml_custom_4d(ctx, GGML_TYPE_F32, Dh, H, T, 1, args, mask ? 4 : 3, TiledOp, GGML_N_TASKS_MAX,
                        ScaleAsUserdata(scale));
}

}  // namespace chunkllm
