// Tiled attention: the attention kernel for micro-batches of many tokens (prompt prefill).
//
// ggml's CPU kernel for a batch works one query head at a time and converts every f16 key and
// value it reads once per head and per tile of queries; at long depths a 32K-token prompt spends
// most of its time there at a fraction of the machine's multiply-add rate. This op computes, for
// each KV head, a tile of the batch's tokens (all the query heads that share the KV head: the
// GQA group times the tile's tokens, ~256 query rows) against blocks of 64 cache rows: each
// block's keys and values are converted to f32 once per tile, the scores of 4 query rows and 64
// keys are held in 16 vector registers while the head dimension is walked, and the weighted
// value sums likewise (flash attention's online softmax between the two). Blocks that the mask
// hides from every token of the tile are skipped, so a causal batch at depth 0 does half the
// work, and a sparse prefill's gathered rows cost what they hold.
//
// A ggml custom op, so the session's graph, allocator and thread pool run it like any node; the
// work is split into (KV head, tile) tasks whose arithmetic does not depend on the thread count.
// tests/model/test_split_kv_attention.cpp bounds it against a double-precision reference.
#pragma once

#include "ggml.h"

namespace chunkllm {

// Attention of q (Dh, H, T) f32, its scores multiplied by `scale`, over the cache views
// k and v (Dh, n_kv, Hkv) of any type ggml can convert to f32 (f32, f16, q8_0, ...), under the
// mask (n_kv, >= T) f16 (0 = read, -inf = skip, other values added to the score; may be null).
// Query head h reads KV head h / (H / Hkv). Returns (Dh, H, T) f32, as ggml_flash_attn_ext does;
// a query row that reads nothing is 0. Head dims: those SplitKvSupports takes. Hidden rows enter
// the arithmetic with weight 0 (a hidden key's score is -inf whatever it holds), so a hidden
// value row must be finite: the session's caches are zeroed when made.
ggml_tensor* TiledAttention(ggml_context* ctx, ggml_tensor* q, ggml_tensor* k, ggml_tensor* v, ggml_tensor* mask,
                            float scale);

// The cache rows of one block, and the batch tokens of one tile for a GQA group of `group`.
inline constexpr int kTiledKeys = 64;
int TiledAttentionTileTokens(int group);

}  // namespace chunkllm
