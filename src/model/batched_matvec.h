// Batched matrix-vector products: the f16 weight matmuls of decode steps, W x for one column x
// or a few at once (several sessions decoding together, model/session_batch.h).
//
// For one column ggml converts every f16 weight and does one multiply-add with it, which keeps
// pace with memory. For two columns or more ggml's CPU backend switches to a tiled GEMM
// (llamafile's tinyBLAS) made for prompt-sized batches, which reads 4-row blocks as short streams
// and runs at a third of the bandwidth (measured: a 49 MB f16 matrix, 2 threads, AMD EPYC: 1.26
// ms for one column, 3.5 ms for two, 4.0 ms for four, 5.3 for eight). This op reads W's rows one
// after another as one prefetched stream, converts each weight once and multiplies it into up to
// kBatchedMatVecCols columns: 0.9-1.0, 1.1-1.2, 1.3 and 3.2 ms (eight columns spill registers).
//
// Each (row, column) sums its products in one fixed order (even and odd blocks of 16 along K in
// two accumulators, added, then lanes summed by halves), whatever the other columns are, so a column's result does not depend on the
// batch it is in. It differs from ggml's one-column product by rounding only (x stays f32 here;
// ggml rounds it to f16 first): tests/model/test_batched_matvec.cpp bounds it against doubles.
#pragma once

#include "ggml.h"

namespace chunkllm {

// Columns converted weights are reused for; more columns take further passes over the weights.
inline constexpr int kBatchedMatVecCols = 8;
// A session's batches of up to this many tokens take this op (decode steps, a prompt's short last
// micro-batch); longer ones take ggml's GEMM. A graph of several sessions' decode steps takes it
// for any number of sessions.
inline constexpr int kBatchedMatVecMaxTokens = 16;

// Whether the op takes weights w: f16, K a multiple of 16.
bool BatchedMatVecSupports(const ggml_tensor* w);

// w (K, M) f16, x (K, N) f32 contiguous: returns w^T x as ggml_mul_mat does, (M, N) f32.
ggml_tensor* BatchedMatVec(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x);

}  // namespace chunkllm
