// Causal softmax attention for pretraining, computed in query blocks with a hand-written
// backward that recomputes each block's probabilities instead of keeping them.
//
// Why: autograd of the plain blocked attention keeps every block's probabilities for the
// backward pass, B x H x T^2 / 2 values per layer in f32 (~400 MB a layer for 2 rows of 4096
// tokens, 6 heads), and walks them several times through memory. Here the forward keeps only
// each row's log-sum-exp (B, H, T) and the backward rebuilds one block of probabilities at a
// time (the memory-saving recomputation of FlashAttention, done with ATen matmuls), at the
// cost of one more score matmul. Measured on the demo backbone, rows of 4096 x 2, 2 EPYC cores:
// 587 -> 679 tokens/s, kernel time 76 -> 25 s over the same 4 steps, the same losses
// (docs/benchmarks.md).
//
// Shapes: q, k, v (B, H, T, Dh), GQA already expanded (k and v repeated per query head).
// Matmuls run in bf16 when autocast is on at the forward call (and in the input dtype
// otherwise: f64 for the gradient checks); scores, softmax and gradients of the scores in f32
// (f64 for f64 inputs). The output has the matmul dtype.
#pragma once

#include <torch/torch.h>

namespace chunkllm {

// softmax(q k^T * scale + causal mask) v, in query blocks of `rows` tokens, each against the
// keys up to its end only. Differentiable in q, k and v.
torch::Tensor BlockedCausalAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     double scale, int64_t rows);

}  // namespace chunkllm
