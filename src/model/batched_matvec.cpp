#include "model/batched_matvec.h"

#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "model/vec16.h"

namespace chunkllm {
namespace {

using vec16::F32x16;
using vec16::kLanes;

// y[r, j] for rows [r0, r1) and columns [c0, c0 + C), one row after another: W's rows are
// contiguous, so this reads W as one sequential stream (blocks of several rows read 4+ short
// streams at once and ran at under half the bandwidth), prefetched 2 KB ahead in software, which
// took 4 columns of a 49 MB matrix from 1.94 to 1.31 ms (the hardware prefetchers alone fall
// behind once the loop has more than one column's work per weight).
// Each (row, column) sums in two accumulators, even and odd blocks of 16 along K, added at the
// end and its lanes summed by halves: a fixed order whatever the other columns are.
template <int C>
void Rows(const ggml_tensor* w, const ggml_tensor* x, ggml_tensor* y, int64_t r0, int64_t r1, int64_t c0) {
  const int64_t K = w->ne[0];
  const float* xc[C];
  for (int j = 0; j < C; ++j) xc[j] = reinterpret_cast<const float*>(static_cast<const char*>(x->data) + (c0 + j) * x->nb[1]);
  float* yc[C];
  for (int j = 0; j < C; ++j) yc[j] = reinterpret_cast<float*>(static_cast<char*>(y->data) + (c0 + j) * y->nb[1]);
  for (int64_t r = r0; r < r1; ++r) {
    const ggml_fp16_t* wr = reinterpret_cast<const ggml_fp16_t*>(static_cast<const char*>(w->data) + r * w->nb[1]);
    F32x16 even[C] = {}, odd[C] = {};
    int64_t k = 0;
    for (; k + 2 * kLanes <= K; k += 2 * kLanes) {
      // 2 KB ahead (measured best of 1, 2 and 4 KB); an address past W's end is never read (a
      // prefetch cannot fault), and it is formed as an integer, not as an out-of-bounds pointer.
      __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(wr + k) + 2048));
      const F32x16 w0 = vec16::LoadHalf(wr + k), w1 = vec16::LoadHalf(wr + k + kLanes);
      for (int j = 0; j < C; ++j) {
        even[j] += w0 * vec16::Load(xc[j] + k);
        odd[j] += w1 * vec16::Load(xc[j] + k + kLanes);
      }
    }
    if (k < K) {  // K = 16 (mod 32): one even block left
      const F32x16 w0 = vec16::LoadHalf(wr + k);
      for (int j = 0; j < C; ++j) even[j] += w0 * vec16::Load(xc[j] + k);
    }
    for (int j = 0; j < C; ++j) yc[j][r] = vec16::HorizontalSum(even[j] + odd[j]);
  }
}

using RowsFn = void (*)(const ggml_tensor*, const ggml_tensor*, ggml_tensor*, int64_t, int64_t, int64_t);
constexpr RowsFn kRowsFor[kBatchedMatVecCols + 1] = {nullptr,  Rows<1>, Rows<2>, Rows<3>, Rows<4>,
                                                     Rows<5>, Rows<6>, Rows<7>, Rows<8>};

void MatVecOp(ggml_tensor* y, int ith, int nth, void*) {
  const ggml_tensor* w = y->src[0];
  const ggml_tensor* x = y->src[1];
  const int64_t M = w->ne[1], N = x->ne[1];
  // Contiguous row ranges per thread, in whole blocks of 32 rows.
  const int64_t unit = 32, units = (M + unit - 1) / unit;
  const int64_t r0 = std::min(M, units * ith / nth * unit), r1 = std::min(M, units * (ith + 1) / nth * unit);
  for (int64_t c0 = 0; c0 < N; c0 += kBatchedMatVecCols) {
    const int64_t C = std::min<int64_t>(kBatchedMatVecCols, N - c0);
    kRowsFor[C](w, x, y, r0, r1, c0);
  }
}

}  // namespace

bool BatchedMatVecSupports(const ggml_tensor* w) { return w->type == GGML_TYPE_F16 && w->ne[0] % kLanes == 0; }

ggml_tensor* BatchedMatVec(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x) {
  if (!BatchedMatVecSupports(w)) Fail("batched mat-vec: weights must be f16 with rows of a multiple of 16");
  if (x->type != GGML_TYPE_F32 || !ggml_is_contiguous(x) || x->ne[0] != w->ne[0] || x->ne[2] != 1 || x->ne[3] != 1) {
    Fail("batched mat-vec: x must be contiguous f32 (", w->ne[0], ", N)");
  }
  if (!ggml_is_contiguous_rows(w) || w->ne[2] != 1 || w->ne[3] != 1) Fail("batched mat-vec: w must be one matrix");
  ggml_tensor* args[2] = {w, x};
  return ggml_custom_4d(ctx, GGML_TYPE_F32, w->ne[1], x->ne[1], 1, 1, args, 2, MatVecOp, GGML_N_TASKS_MAX, nullptr);
}

}  // namespace chunkllm
