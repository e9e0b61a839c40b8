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

#include <vector>

#include "ggml.h"

namespace chunkllm {

class Model;
class KvCache;

inline constexpr int kKvPad = 256;

// ChunkLLM's per-token adapter matrices as ggml tensors (chunk/adapter_tensors.h makes them),
// so that the forward graph runs them over a batch's rows with ggml's matrix products rather
// than the CPU running one matrix-vector product per token beside the graph. ggml shapes
// (ne0, ne1), i.e. row-major [ne1][ne0] as the adapter file stores them.
struct AdapterGraphWeights {
  std::vector<ggml_tensor*> key_w1;  // per layer: K-Adapter W1 (D, Da)
  std::vector<ggml_tensor*> key_w2;  // per layer: K-Adapter W2 (Da, r)
  // The Chunk Adapter's first layer W1 (n*D -> Hc, Hc = max(hidden, 1)) cut into its n input
  // blocks (one per token it reads) stacked: (D, n*Hc), rows k*Hc .. k*Hc+Hc-1 are block k.
  // Multiplying every token's h_1 by it once gives each token's share of every window it is in.
  ggml_tensor* boundary_w1 = nullptr;
  // The first rope_dims key features are rotated by the token's position (adapter_set.h).
  int rope_dims = 0;
  float rope_base = 10000.0f;
};

// Intermediate tensors that a policy or the adapter teacher reads back after a batch ran.
// Only the requested ones are kept alive (marked as outputs), so plain inference pays nothing.
struct GraphTaps {
  bool attn_in = false;     // per layer l: attn_norm(h_{l-1}), the input of Wq/Wk   (D, T)
  bool q_rope = false;      // per layer l: queries after QK-norm and RoPE           (Dh, H, T)
  bool layer1_out = false;  // h_1, the residual stream after the first layer        (D, T)
  // Not null: the adapters' per-token products in the graph (ForwardGraph::key_features, and
  // boundary_parts when boundary_w1 is set).
  const AdapterGraphWeights* adapters = nullptr;
  bool any() const { return attn_in || q_rope || layer1_out || adapters; }
  bool operator==(const GraphTaps&) const = default;
};

struct ForwardGraph {
  ggml_cgraph* graph = nullptr;
  ggml_tensor* inp_tokens = nullptr;   // I32 [T]
  ggml_tensor* inp_pos = nullptr;      // I32 [T]
  ggml_tensor* inp_kv_rows = nullptr;  // I64 [T]: cache row of each token (= its position)
  ggml_tensor* inp_mask = nullptr;     // F16 [n_kv, T]: 0 where attended, -inf elsewhere
  ggml_tensor* inp_out_ids = nullptr;  // I32 [n_out], or null when every token is an output
  ggml_tensor* logits = nullptr;       // F32 [V, n_out]
  int n_kv = 0;
  // Gathered attention (decode with a sparse policy): per layer, the row of the gathered cache
  // that receives this token (I64 [1]) and the mask over its rows (F16 [n_kv, 1]).
  std::vector<ggml_tensor*> inp_gather_row, inp_gather_mask;
  // Taps (null / empty unless requested).
  std::vector<ggml_tensor*> attn_in;   // n_layer x F32 (D, T)
  std::vector<ggml_tensor*> q_rope;    // n_layer x F32 (Dh, H, T)
  ggml_tensor* layer1_out = nullptr;   // F32 (D, T); (D, n_out) if the model has one layer
  // With taps.adapters: per layer the K-Adapter features W2 silu(W1 attn_in)   n_layer x F32 (r, T)
  // (their first rope_dims rotated by the token's position),
  // and boundary_w1 times h_1 of every token                                  F32 (n*Hc, T).
  std::vector<ggml_tensor*> key_features;
  ggml_tensor* boundary_parts = nullptr;
};

// T tokens attend to cache positions [0, n_kv) under inp_mask; their K/V are written into the
// cache rows inp_kv_rows by the graph. The graph depends only on (T, n_outputs, n_kv), so a
// session reuses it from one decode step to the next. Callers choose n_kv = pos0 + T rounded
// up to kKvPad (the mask hides the rest): the same KV blocking as libllama, so the flash-
// attention kernel sums in the same order. Only the last n_outputs tokens produce logits
// (the last layer's FFN and the output matmul are skipped for the others, as in libllama).
//
// Gathered mode (gathered != null, one token): attention reads rows [0, n_kv) of `gathered`, a
// second cache whose rows hold the positions each layer attends to, contiguously; the token's
// K/V is appended to it at inp_gather_row[l], and also written to kv unless write_kv is false
// (an evicting policy that no longer keeps the full cache).
ForwardGraph BuildForwardGraph(ggml_context* ctx, const Model& model, const KvCache& kv, int n_kv,
                               int n_tokens, int n_outputs, const GraphTaps& taps = {},
                               const KvCache* gathered = nullptr, bool write_kv = true);

// Node budget for BuildForwardGraph, for sizing the graph context.
size_t ForwardGraphMaxNodes(int n_layer);

}  // namespace chunkllm
