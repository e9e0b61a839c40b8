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
CHUNKLLM_INLINE void Prefetch(const char* p, size_t bytes) {
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
}

// Chunk c (16 values) of one cache row as f32: f16 converted in registers, f32 loaded.
template <bool kHalf>
CHUNKLLM_INLINE F32x16 Chunk(const char* row, int c) {
  if constexpr (kHalf) return vec16::LoadHalf(reinterpret_cast<const ggml_fp16_t*>(row) + c * kLanes);
  else return Load(reinterpret_cast<const float*>(row) + c * kLanes);
}

// Query rows whose q and weighted V sums stay in registers for a whole sub-block: with
// AVX-512's 32 vector registers, 24 hold them (q in the score phase, the sums in the V phase)
// and the rest one cache row's chunks.
constexpr int kSetRegisters = 24;

// When the query rows need several sets, a part is walked in sub-blocks of about this many
// cache bytes (K and V rows of every KV head), each read by every set before the next: the
// first set brings it from memory, the others find it in L2 (1-2 MiB a core on the CPUs seen
// here). A whole part at Llama-3-8B's shape (8 KV heads of 128) is 4 MiB, which its later sets
// read again from L3 or memory; in sub-blocks that shape ran 10-20% faster at 32K
// (bench-attention, docs/benchmarks.md). A set's running maximum, sum and weighted V sums wait
// in its output column between sub-blocks, so every row sees the same arithmetic in the same
// order.
constexpr size_t kSubBlockBytes = 256 * 1024;

// Per thread: the scaled query rows, the part's mask as f32 (and whether every token reads
// every row of the part unbiased, as in a decode step: then blocks skip the mask), and for cache
// types that are neither f32 nor f16 a block's rows converted to f32.
struct Scratch {
  std::vector<float> q, mask, kconv, vconv;
  bool plain = false;
  void Size(int G, int Dh, int T, int part_len, int row_values) {
    q.resize(size_t(G) * Dh);
    mask.resize(size_t(T) * part_len);
    kconv.resize(size_t(kBlock) * row_values);
    vconv.resize(size_t(kBlock) * row_values);
  }
};

struct Problem {
  const ggml_tensor *q, *k, *v, *mask;
  int Dh, H, T, n_kv, Hkv, group, R, G, parts, part_len;
  float scale;  // softmax scale, applied to q as it is read
};

// A part's result for one query row: its maximum score M, sum S of e^(score - M) and sum O of
// e^(score - M) v, written to the column of (token t, head h).
struct PartOutput {
  float* part_cols;  // this part's columns, (Dh + 2) floats each, column t * H + h
  const Problem* pb;
  float* Column(int r) const {  // query row r = g * R + t * group + j reads KV head g; it is head g * group + j
    const int g = r / pb->R, t = (r % pb->R) / pb->group, j = r % pb->group;
    return part_cols + size_t(t * pb->H + g * pb->group + j) * size_t(pb->Dh + 2);
  }
};

// Query rows r0 .. r0 + N - 1 (row r reads KV head r / R) over the cache rows [b_start, b_end) of the
// part that starts at c0 (the first sub-block starts the rows' softmax; later ones continue
// it from their output columns). The cache is read front to back, each position's K row (then
// its V row) for all the set's heads at once: reading one head's half of many rows and coming
// back for the other half later runs at two thirds of the speed (the hardware prefetchers
// follow a plain stream best). When the query rows need more than one set, the later sets
// read the sub-block again from L2.
template <bool kHalf, int DC, int N>
void PartSet(const Problem& pb, Scratch& sc, int c0, int b_start, int b_end, int r0, const PartOutput& out) {
  constexpr int kC = DC > 0 ? DC : kMaxChunks;  // chunks held per row (runtime count dc when DC is 0)
  const int dc = DC > 0 ? DC : pb.Dh / kLanes, Dh = pb.Dh, R = pb.R;
  const bool convert = !kHalf && pb.k->type != GGML_TYPE_F32;
  const ggml_to_float_t k_to_float = ggml_get_type_traits(pb.k->type)->to_float;
  const ggml_to_float_t v_to_float = ggml_get_type_traits(pb.v->type)->to_float;
  const int g_first = r0 / R, g_last = (r0 + N - 1) / R;  // the KV heads the set reads
  // Bytes between a row's KV heads: the cache's, or Dh floats in converted rows.
  const size_t k_head = convert ? sizeof(float) * Dh : pb.k->nb[2], v_head = convert ? sizeof(float) * Dh : pb.v->nb[2];
  // Where the set's rows change KV head (n = 0 and wherever r0 + n starts a head's rows), and
  // each row's head's byte offset in a K and a V row: worked out once, not divided per row.
  // Also each row's token's mask row.
  bool new_head[N];
  size_t k_off[N], v_off[N];
  const float* mask_row[N];
  for (int n = 0; n < N; ++n) {
    new_head[n] = n == 0 || (r0 + n) % R == 0;
    k_off[n] = size_t((r0 + n) / R) * k_head, v_off[n] = size_t((r0 + n) / R) * v_head;
    mask_row[n] = &sc.mask[size_t(((r0 + n) % R) / pb.group) * pb.part_len];
  }

  // The first set of several reads only the first heads' part of each row; the rest of the
  // row is asked for at the same time, so memory still sees the rows front to back and the
  // later sets find them in L2.
  // (Only where a position's KV heads lie side by side, as the cache lays them out.)
  const bool heads_adjacent = pb.k->nb[1] == size_t(pb.Hkv) * pb.k->nb[2] && pb.v->nb[1] == size_t(pb.Hkv) * pb.v->nb[2];
  const bool first_of_several = r0 == 0 && g_last + 1 < pb.Hkv && !convert && heads_adjacent;
  const size_t rest_k = size_t(g_last + 1) * k_head, rest_v = size_t(g_last + 1) * v_head;
  const size_t rest_bytes_k = first_of_several ? size_t(pb.Hkv) * k_head - rest_k : 0;
  const size_t rest_bytes_v = first_of_several ? size_t(pb.Hkv) * v_head - rest_v : 0;

  F32x16 q[N][kC], acc[N][kC];
  float m[N], s[N];
  for (int n = 0; n < N; ++n) {
    const float* col = out.Column(r0 + n);  // (M, S, O) so far, after the part's first sub-block
    const bool first = b_start == c0;
    for (int c = 0; c < dc; ++c) {
      q[n][c] = Load(&sc.q[size_t(r0 + n) * Dh + c * kLanes]);
      acc[n][c] = first ? F32x16{} : Load(col + 2 + c * kLanes);
    }
    m[n] = first ? -INFINITY : col[0], s[n] = first ? 0.0f : col[1];
  }
  const char* krow[kBlock];
  const char* vrow[kBlock];
  int live[kBlock];
  alignas(64) float score[N][kBlock];
  for (int b0 = b_start; b0 < b_end; b0 += kBlock) {
    // The block's rows that some token reads (the rest cost nothing).
    int n_live = 0;
    bool bias = false;  // a read row whose mask is not 0 (else adding the mask is skipped)
    if (sc.plain)
      for (int p = b0; p < std::min(b_end, b0 + kBlock); ++p) live[n_live++] = p;
    else
      for (int p = b0; p < std::min(b_end, b0 + kBlock); ++p) {
        bool read = false;
        for (int t = 0; t < pb.T; ++t) {
          const float mv = sc.mask[size_t(t) * pb.part_len + size_t(p - c0)];
          read |= mv != -INFINITY;
          bias |= mv != 0.0f;
        }
        if (read) live[n_live++] = p;
      }
    if (n_live == 0) continue;
    for (int jj = 0; jj < n_live; ++jj) {
      krow[jj] = static_cast<const char*>(pb.k->data) + size_t(live[jj]) * pb.k->nb[1];
      vrow[jj] = static_cast<const char*>(pb.v->data) + size_t(live[jj]) * pb.v->nb[1];
      if (convert) {  // q8_0 and other block types: the set's heads to f32 rows first
        float* kf = &sc.kconv[size_t(jj) * pb.Hkv * Dh];
        float* vf = &sc.vconv[size_t(jj) * pb.Hkv * Dh];
        for (int g = g_first; g <= g_last; ++g) {
          k_to_float(krow[jj] + size_t(g) * pb.k->nb[2], kf + size_t(g) * Dh, Dh);
          v_to_float(vrow[jj] + size_t(g) * pb.v->nb[2], vf + size_t(g) * Dh, Dh);
        }
        krow[jj] = reinterpret_cast<const char*>(kf);
        vrow[jj] = reinterpret_cast<const char*>(vf);
      }
    }
    // Scores, 16 cache rows at a time: each row's K chunks converted once per head for the
    // set's rows of that head; the lanes of a product summed 16 rows at once (TransposeSum).
    for (int sub = 0; sub < n_live; sub += kLanes) {
      const int live_here = std::min(kLanes, n_live - sub);
      F32x16 partial[N][kLanes];
      for (int jj = 0; jj < kLanes; ++jj) {
        if (jj >= live_here) {
          for (int n = 0; n < N; ++n) partial[n][jj] = F32x16{};
          continue;
        }
        if (rest_bytes_k) Prefetch(krow[sub + jj] + rest_k, rest_bytes_k);
        F32x16 k[kC] = {};  // (every row loads its head first: new_head[0])
        for (int n = 0; n < N; ++n) {
          if (new_head[n])
            for (int c = 0; c < dc; ++c) k[c] = Chunk<kHalf>(krow[sub + jj] + k_off[n], c);
          F32x16 a = q[n][0] * k[0];
          for (int c = 1; c < dc; ++c) a += q[n][c] * k[c];
          partial[n][jj] = a;
        }
      }
      for (int n = 0; n < N; ++n) Store(&score[n][sub], vec16::TransposeSum(partial[n]));
    }
    // Online softmax of each row over the block: scores become weights e^(score - m), and what
    // was summed before is rescaled to the new maximum m. Unused tail scores are -inf (weight 0).
    for (int n = 0; n < N; ++n) {
      float* sn = score[n];
      if (bias)
        for (int jj = 0; jj < n_live; ++jj) sn[jj] += mask_row[n][live[jj] - c0];
      for (int jj = n_live; jj < kBlock; ++jj) sn[jj] = -INFINITY;
      const float m_new = vec16::RunningMax(vec16::Max(Load(sn), Load(sn + kLanes)), m[n]);
      if (m_new == -INFINITY) {  // this token has read nothing yet, nor does it in this block
        std::fill(sn, sn + kBlock, 0.0f);
        continue;
      }
      const float shrink = vec16::ExpNonPositive(m[n] - m_new);
      m[n] = m_new;
      const F32x16 w0 = vec16::ExpNonPositive(Load(sn) - m_new), w1 = vec16::ExpNonPositive(Load(sn + kLanes) - m_new);
      Store(sn, w0);
      Store(sn + kLanes, w1);
      s[n] = s[n] * shrink + vec16::HorizontalSum(w0 + w1);
      if (shrink != 1.0f)
        for (int c = 0; c < dc; ++c) acc[n][c] *= Splat(shrink);
    }
    // o_n += sum_jj w[n][jj] v_jj: each V row's chunks converted once per head.
    for (int jj = 0; jj < n_live; ++jj) {
      if (rest_bytes_v) Prefetch(vrow[jj] + rest_v, rest_bytes_v);
      F32x16 v[kC] = {};
      for (int n = 0; n < N; ++n) {
        if (new_head[n])
          for (int c = 0; c < dc; ++c) v[c] = Chunk<kHalf>(vrow[jj] + v_off[n], c);
        const F32x16 w = Splat(score[n][jj]);
        for (int c = 0; c < dc; ++c) acc[n][c] += w * v[c];
      }
    }
  }
  for (int n = 0; n < N; ++n) {
    float* col = out.Column(r0 + n);
    col[0] = m[n];
    col[1] = s[n];
    for (int c = 0; c < dc; ++c) Store(col + 2 + c * kLanes, acc[n][c]);
  }
}

// The part's query rows in sets of up to kSetRegisters / DC rows (a runtime chunk count: one row
// a set), over sub-blocks of about kSubBlockBytes when there are several sets.
// At head dim 128 from an f16 cache, sets of 4 rows (one Llama-3 KV head's) leave part of q and
// the sums in L1 and still run 5-10% faster at Llama-3-8B's and Qwen2.5-7B's shapes than sets of
// 3 (fewer sets re-reading each sub-block); 6 rows were slower, and so were 4 from a q8_0 cache
// (bench-attention, docs/benchmarks.md).
template <bool kHalf, int DC>
void Part(const Problem& pb, Scratch& sc, int c0, int c1, const PartOutput& out) {
  constexpr int kMaxSet = kHalf && DC == 8 ? 4 : DC > 0 ? kSetRegisters / DC : 1;
  static_assert(kMaxSet >= 1 && kMaxSet <= 6, "set sizes below are instantiated up to 6");
  const size_t position_bytes = pb.k->nb[1] + pb.v->nb[1];
  const int sub = pb.G <= kMaxSet ? c1 - c0 : std::max(kBlock, int(kSubBlockBytes / position_bytes) / kBlock * kBlock);
  for (int b = c0;; b += sub) {  // (an empty part too writes its rows' columns: M -inf, S 0, O 0)
    const int e = std::min(c1, b + sub);
    for (int r0 = 0; r0 < pb.G; r0 += kMaxSet) {
      switch (std::min(kMaxSet, pb.G - r0)) {
        case 1: PartSet<kHalf, DC, 1>(pb, sc, c0, b, e, r0, out); break;
        case 2: if constexpr (kMaxSet >= 2) PartSet<kHalf, DC, 2>(pb, sc, c0, b, e, r0, out); break;
        case 3: if constexpr (kMaxSet >= 3) PartSet<kHalf, DC, 3>(pb, sc, c0, b, e, r0, out); break;
        case 4: if constexpr (kMaxSet >= 4) PartSet<kHalf, DC, 4>(pb, sc, c0, b, e, r0, out); break;
        case 5: if constexpr (kMaxSet >= 5) PartSet<kHalf, DC, 5>(pb, sc, c0, b, e, r0, out); break;
        case 6: if constexpr (kMaxSet >= 6) PartSet<kHalf, DC, 6>(pb, sc, c0, b, e, r0, out); break;
      }
    }
    if (e >= c1) break;
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
  pb.group = pb.H / pb.Hkv, pb.R = pb.group * pb.T, pb.G = pb.Hkv * pb.R;
  pb.parts = int(dst->ne[2]);
  pb.part_len = PartLength(pb.n_kv, pb.parts);
  const bool half = pb.k->type == GGML_TYPE_F16 && pb.v->type == GGML_TYPE_F16;
  const int dc = pb.Dh / kLanes;

  thread_local Scratch sc;
  sc.Size(pb.G, pb.Dh, pb.T, pb.part_len, pb.Hkv * pb.Dh);
  // Query row r = g * R + t * group + j (head g * group + j of token t), scaled.
  for (int g = 0; g < pb.Hkv; ++g)
    for (int t = 0; t < pb.T; ++t)
      for (int j = 0; j < pb.group; ++j) {
        const char* src = static_cast<const char*>(pb.q->data) + size_t(g * pb.group + j) * pb.q->nb[1] + size_t(t) * pb.q->nb[2];
        const float* qh = reinterpret_cast<const float*>(src);
        float* dst_q = &sc.q[(size_t(g) * pb.R + size_t(t * pb.group + j)) * pb.Dh];
        for (int d = 0; d < pb.Dh; ++d) dst_q[d] = qh[d] * pb.scale;
      }
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
    sc.plain = true;
    for (int t = 0; t < pb.T && sc.plain; ++t)
      sc.plain = std::all_of(&sc.mask[size_t(t) * pb.part_len], &sc.mask[size_t(t) * pb.part_len] + (c1 - c0),
                             [](float x) { return x == 0.0f; });
    const PartOutput po{out + size_t(part) * size_t(pb.H * pb.T) * col, &pb};
    // Head dims 64 and 128 get loops unrolled for their chunk count and rows held in
    // registers; others run the same code with the count at run time. f32 rows are read in
    // place, other types converted per block.
    if (half) {
      if (dc == 4) Part<true, 4>(pb, sc, c0, c1, po);
      else if (dc == 8) Part<true, 8>(pb, sc, c0, c1, po);
      else Part<true, 0>(pb, sc, c0, c1, po);
    } else {
      if (dc == 4) Part<false, 4>(pb, sc, c0, c1, po);
      else if (dc == 8) Part<false, 8>(pb, sc, c0, c1, po);
      else Part<false, 0>(pb, sc, c0, c1, po);
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
