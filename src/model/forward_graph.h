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

#include <cstdint>
#include <memory>
#include <vector>

#include "ggml.h"
#include "model/graph_hook.h"
#include "model/attention_kernel.h"

namespace chunkllm {

class Model;
class KvCache;

inline constexpr int kKvPad = 256;

// Intermediate tensors that a policy or the adapter teacher reads back after a batch ran.
// Only the requested ones are kept alive (marked as outputs), so plain inference pays nothing.
struct GraphTaps {
  bool attn_in = false;     // per layer l: attn_norm(h_{l-1}), the input of Wq/Wk   (D, T)
  bool q_rope = false;      // per layer l: queries after QK-norm and RoPE           (Dh, H, T)
  bool layer1_out = false;  // h_1, the residual stream after the first layer        (D, T)
  // The policy's graph hook reads every token's h_1 (PolicyGraph::AtLayer1Output), so a
  // one-layer model keeps every row to its end (no output-row pruning).
  bool hook_layer1 = false;
  bool operator==(const GraphTaps&) const = default;
};

// One sequence's part of a forward graph (a session's micro-batch): its cache, what its tokens
// attend to, and the policy nodes and taps it reads back. A graph holds one sequence, or several
// (a server's slots decoding together: the weights are read once for all of them), each with its
// own cache and policy; the matmuls run over every sequence's tokens at once.
struct SequenceSpec {
  const KvCache* kv = nullptr;  // the sequence's full cache
  int n_kv = 0;                 // attention reads rows [0, n_kv) of kv (or of gathered)
  int n_tokens = 0;             // this sequence's tokens, consecutive in the graph's batch
  int n_outputs = 0;            // its last n_outputs tokens produce logits
  GraphTaps taps;
  std::unique_ptr<PolicyGraph> policy;  // may be null
  const KvCache* gathered = nullptr;
  bool write_kv = true;
  bool sparse_prefill = false;
};

// One sequence's part of a built forward graph: its rows of the batch and of the logits, its
// inputs (filled by its session before each run), the taps and policy nodes its policy reads back
// after the run (AttentionPolicy::EndBatch gets this).
struct SequenceGraph {
  int first_token = 0, n_tokens = 0;    // rows of the graph's batch
  int first_output = 0, n_outputs = 0;  // rows of ForwardGraph::logits
  int n_kv = 0;
  ggml_tensor* inp_kv_rows = nullptr;  // I64 [T]: cache row of each token (= its position)
  ggml_tensor* inp_mask = nullptr;     // F16 [n_kv, T]: 0 where attended, -inf elsewhere
  // Gathered attention (decode with a sparse policy): per layer, the row of the gathered cache
  // that receives this token (I64 [1]) and the mask over its rows (F16 [n_kv, 1]).
  std::vector<ggml_tensor*> inp_gather_row, inp_gather_mask;
  // Taps (null / empty unless requested), this sequence's tokens only.
  std::vector<ggml_tensor*> attn_in;   // n_layer x F32 (D, T)
  std::vector<ggml_tensor*> q_rope;    // n_layer x F32 (Dh, H, T)
  ggml_tensor* layer1_out = nullptr;   // F32 (D, T); (D, n_out) if the model has one layer
  // The policy's own nodes (AttentionPolicy::NewGraph), built into this graph; null for none.
  std::unique_ptr<PolicyGraph> policy;
};

struct ForwardGraph {
  ggml_cgraph* graph = nullptr;
  ggml_tensor* inp_tokens = nullptr;   // I32 [T]: every sequence's tokens, one after another
  ggml_tensor* inp_pos = nullptr;      // I32 [T]
  ggml_tensor* inp_out_ids = nullptr;  // I32 [n_out], or null when every token is an output
  ggml_tensor* logits = nullptr;       // F32 [V, n_out]
  std::vector<SequenceGraph> seqs;
};

// Each sequence's T_s tokens attend to its cache positions [0, n_kv) under its inp_mask; their
// K/V are written into its cache rows inp_kv_rows by the graph. The graph depends only on each
// sequence's (T, n_outputs, n_kv, caches), so a session reuses it from one decode step to the
// next. Callers choose n_kv = pos0 + T rounded up to kKvPad (the mask hides the rest): the same
// KV blocking as libllama, so the flash-attention kernel sums in the same order. Only the last
// n_outputs tokens of a sequence produce logits (the last layer's FFN and the output matmul are
// skipped for the others, as in libllama).
//
// Gathered mode (gathered != null, one token): attention reads rows [0, n_kv) of `gathered`, a
// second cache whose rows hold the positions each layer attends to, contiguously; the token's
// K/V is appended to it at inp_gather_row[l], and also written to kv unless write_kv is false
// (an evicting policy that no longer keeps the full cache).
//
// Sparse prefill (gathered != null and sparse_prefill, any T): the batch's K/V go to kv as in a
// dense batch; then the policy graph's node (PolicyGraph::SparsePrefillMask) fills layer l's rows
// [0, n_kv) of `gathered` and gives the mask [n_kv, T] over them, and attention reads those rows.
//
// A sequence's policy graph (may be null) is called at its hook points, with that sequence's
// rows, as the graph is built, and then kept in the returned graph (SequenceGraph::policy).
ForwardGraph BuildForwardGraph(ggml_context* ctx, const Model& model, std::vector<SequenceSpec> seqs,
                               AttentionKernel kernel = AttentionKernel::kGgml);

// Fills the inputs the sequences share once the graph is allocated: every token (I32 [T]), its
// position, and the batch rows that produce logits (ignored when every row does).
void SetBatchInputs(const ForwardGraph& fg, const std::vector<int32_t>& tokens, const std::vector<int32_t>& pos,
                    const std::vector<int32_t>& out_ids);

// Node budget for BuildForwardGraph over n_seqs sequences, for sizing the graph context.
size_t ForwardGraphMaxNodes(int n_layer, int n_seqs = 1);

}  // namespace chunkllm
