// The forward graph of one micro-batch for the Llama family (llama, qwen2, qwen3).
//
// One builder with knobs from ModelConfig (QKV bias, QK norm, RoPE pairing) rather than a
// copy per architecture. The step reads like the math:
//   x = embed(tokens)                                              (D, T)
//   per layer: h = rmsnorm(x) * attn_norm
//              q, k, v = Wq h (+bq), Wk h (+bk), Wv h (+bv)        (Dh, H|Hkv, T)
//              [qwen3] q, k = rmsnorm(q) * q_norm, rmsnorm(k) * k_norm   (per head)
//              q, k = rope(q, pos), rope(k, pos); cache[pos] = k, v
//              x = x + Wo attn(q, cache[0 .. pos0+T))
//              x = x + Wdown (silu(Wgate n) * Wup n),  n = rmsnorm(x) * ffn_norm
//   logits = Wout (rmsnorm(x) * output_norm)                       (V, n_out)
#pragma once

#include "ggml.h"

namespace chunkllm {

class Model;
class KvCache;

inline constexpr int kKvPad = 256;

struct ForwardGraph {
  ggml_cgraph* graph = nullptr;
  ggml_tensor* inp_tokens = nullptr;   // I32 [T]
  ggml_tensor* inp_pos = nullptr;      // I32 [T]
  ggml_tensor* inp_kv_rows = nullptr;  // I64 [T]: cache row of each token (= its position)
  ggml_tensor* inp_mask = nullptr;     // F16 [n_kv, T]: 0 where attended, -inf elsewhere
  ggml_tensor* inp_out_ids = nullptr;  // I32 [n_out], or null when every token is an output
  ggml_tensor* logits = nullptr;       // F32 [V, n_out]
  int n_kv = 0;
};

// T tokens attend to cache positions [0, n_kv) under inp_mask; their K/V are written into the
// cache rows inp_kv_rows by the graph. The graph depends only on (T, n_outputs, n_kv), so a
// session reuses it from one decode step to the next. Callers choose n_kv = pos0 + T rounded
// up to kKvPad (the mask hides the rest): the same KV blocking as libllama, so the flash-
// attention kernel sums in the same order. Only the last n_outputs tokens produce logits
// (the last layer's FFN and the output matmul are skipped for the others, as in libllama).
ForwardGraph BuildForwardGraph(ggml_context* ctx, const Model& model, const KvCache& kv, int n_kv,
                               int n_tokens, int n_outputs);

// Node budget for BuildForwardGraph, for sizing the graph context.
size_t ForwardGraphMaxNodes(int n_layer);

}  // namespace chunkllm
