// Split-KV attention: the decode-step attention kernel that reads the KV cache once.
//
// ggml's CPU flash-attention kernel walks the cache once per query head, one position at a
// time (a dot product, an exp and an f16 multiply-add of one row each), so under grouped-query
// attention every K/V row is read H/Hkv times and the step is bound by that per-row work, not
// by memory. This op instead reads the cache front to back, each position's K row (then its V
// row) for all KV heads at once, and uses each head's part of it, converted to f32 once, for
// every query row that shares that head (the GQA group times the batch's tokens); the query
// rows and their running sums stay in registers for a whole part. The cache is split along
// its length into a fixed number of parts (not the thread count: the result is the same for any
// number of threads); each part keeps its own softmax maximum, sum and weighted V sum, and a
// second op combines the parts, as flash-decoding does.
//
// Two ggml custom ops, so the session's graph, allocator and thread pool run it like any node.
// Used for micro-batches of at most kSplitKvMaxTokens tokens (decode steps, and the last few
// tokens of a prompt when they make a micro-batch of their own); larger batches take the tiled
// kernel (model/tiled_attention.h), and models whose head dim neither takes (SplitKvSupports)
// ggml's. The numbers differ from ggml's kernel in rounding only (this one keeps
// the V sum in f32, ggml's in f16): tests/model/test_split_kv_attention.cpp bounds both against
// a double-precision reference.
#pragma once

#include "ggml.h"

namespace chunkllm {

inline constexpr int kSplitKvMaxTokens = 4;

// Attention of q (Dh, H, T) f32, its scores multiplied by `scale`, over the cache views
// k and v (Dh, n_kv, Hkv) of any type ggml can convert to f32 (f32, f16, q8_0, ...), under the
// mask (n_kv, T) f16 (0 = read, -inf = skip; may be null). Query head h reads KV head
// h / (H / Hkv). Returns (Dh, H, T) f32, the layout ggml_flash_attn_ext returns.
ggml_tensor* SplitKvAttention(ggml_context* ctx, ggml_tensor* q, ggml_tensor* k, ggml_tensor* v,
                              ggml_tensor* mask, float scale);

// The number of parts a cache of n_kv rows is split into (each part a multiple of the block).
int SplitKvParts(int n_kv);

// Head dims the kernel takes: multiples of 16 (its vector width) up to 256.
bool SplitKvSupports(int head_dim);

}  // namespace chunkllm
