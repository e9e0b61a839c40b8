#include "model/forward_graph.h"

#include <cmath>

#include "core/error.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/split_kv_attention.h"
#include "model/tiled_attention.h"

namespace chunkllm {

size_t ForwardGraphMaxNodes(int n_layer) { return size_t(64 * n_layer + 256); }

namespace {

ggml_tensor* RmsNorm(ggml_context* ctx, ggml_tensor* x, ggml_tensor* weight, float eps) {
  return ggml_mul(ctx, ggml_rms_norm(ctx, x, eps), weight);
}

ggml_tensor* Rope(ggml_context* ctx, ggml_tensor* x, ggml_tensor* pos, const Model& m) {
  const ModelConfig& c = m.config();
  return ggml_rope_ext(ctx, x, pos, m.weights().rope_freqs, c.n_rot, c.rope_type, c.yarn_orig_ctx,
                       c.rope_freq_base, c.rope_freq_scale, c.yarn_ext_factor, c.yarn_attn_factor,
                       c.yarn_beta_fast, c.yarn_beta_slow);
}

// Self-attention of one layer for the micro-batch; returns Wo * attn, (D, T).
// Marks a tapped tensor as an output, so the allocator keeps it until the caller reads it.
ggml_tensor* Tap(ggml_tensor* t) {
  ggml_set_output(t);
  return t;
}

ggml_tensor* Attention(ggml_context* ctx, ggml_cgraph* gf, const Model& m, const KvCache& kv, int il,
                       ggml_tensor* h, ForwardGraph& fg, int T, const GraphTaps& taps,
                       const KvCache* gathered, bool write_kv, AttentionKernel kernel, bool sparse_prefill) {
  const ModelConfig& c = m.config();
  const LayerWeights& w = m.weights().layers[il];
  const int Dh = c.head_dim, H = c.n_head, Hkv = c.n_head_kv;

  ggml_tensor* q = ggml_mul_mat(ctx, w.wq, h);  // (H*Dh, T)
  ggml_tensor* k = ggml_mul_mat(ctx, w.wk, h);  // (Hkv*Dh, T)
  ggml_tensor* v = ggml_mul_mat(ctx, w.wv, h);  // (Hkv*Dh, T)
  if (c.has_qkv_bias) {
    q = ggml_add(ctx, q, w.bq);
    k = ggml_add(ctx, k, w.bk);
    v = ggml_add(ctx, v, w.bv);
  }
  q = ggml_reshape_3d(ctx, q, Dh, H, T);
  k = ggml_reshape_3d(ctx, k, Dh, Hkv, T);
  if (c.has_qk_norm) {
    q = RmsNorm(ctx, q, w.q_norm, c.rms_eps);
    k = RmsNorm(ctx, k, w.k_norm, c.rms_eps);
  }
  q = Rope(ctx, q, fg.inp_pos, m);
  k = Rope(ctx, k, fg.inp_pos, m);
  if (taps.q_rope) fg.q_rope.push_back(Tap(q));

  // Write this batch's K and V into their cache rows. Expanded before the attention node, so
  // the attention below reads them (ggml runs nodes in insertion order).
  ggml_tensor* k2d = ggml_reshape_2d(ctx, k, c.n_embd_kv(), T);
  ggml_tensor *written_k = nullptr, *written_v = nullptr;
  if (write_kv) {
    written_k = ggml_set_rows(ctx, kv.k(il), k2d, fg.inp_kv_rows);
    written_v = ggml_set_rows(ctx, kv.v(il), v, fg.inp_kv_rows);
    ggml_build_forward_expand(gf, written_k);
    ggml_build_forward_expand(gf, written_v);
  }
  const KvCache& src = gathered ? *gathered : kv;
  ggml_tensor* mask = fg.inp_mask;
  if (sparse_prefill) {
    mask = fg.policy->SparsePrefillMask(ctx, gf, il, h, fg.inp_pos, written_k, written_v, fg.n_kv);
    if (!mask || mask->type != GGML_TYPE_F16 || mask->ne[0] != fg.n_kv || mask->ne[1] != T) {
      Fail("the policy's sparse-prefill mask of layer ", il, " is not F16 [", fg.n_kv, ", ", T, "]");
    }
  } else if (gathered) {
    mask = fg.inp_gather_mask[size_t(il)];
    ggml_build_forward_expand(gf, ggml_set_rows(ctx, src.k(il), k2d, fg.inp_gather_row[size_t(il)]));
    ggml_build_forward_expand(gf, ggml_set_rows(ctx, src.v(il), v, fg.inp_gather_row[size_t(il)]));
  }

  // Attend over rows [0, n_kv) of the source cache: views (Dh, n_kv, Hkv).
  ggml_tensor* k_cache = src.k(il);
  ggml_tensor* v_cache = src.v(il);
  const size_t row_k = k_cache->nb[1], row_v = v_cache->nb[1];
  const int n_kv = fg.n_kv;
  const size_t head_k = ggml_row_size(k_cache->type, Dh), head_v = ggml_row_size(v_cache->type, Dh);
  ggml_tensor* K = ggml_view_3d(ctx, k_cache, Dh, n_kv, Hkv, row_k, head_k, 0);
  ggml_tensor* V = ggml_view_3d(ctx, v_cache, Dh, n_kv, Hkv, row_v, head_v, 0);
  const float scale = 1.0f / std::sqrt(float(Dh));
  ggml_tensor* out = nullptr;  // (Dh, H, T)
  if (kernel == AttentionKernel::kChunkllm && SplitKvSupports(Dh)) {
    out = T <= kSplitKvMaxTokens ? SplitKvAttention(ctx, q, K, V, mask, scale) : TiledAttention(ctx, q, K, V, mask, scale);
  } else {
    if (K->type == GGML_TYPE_F32) K = ggml_cast(ctx, K, GGML_TYPE_F16);
    if (V->type == GGML_TYPE_F32) V = ggml_cast(ctx, V, GGML_TYPE_F16);
    ggml_tensor* Q = ggml_permute(ctx, q, 0, 2, 1, 3);  // (Dh, T, H)
    out = ggml_flash_attn_ext(ctx, Q, K, V, mask, scale, 0.0f, 0.0f);
    ggml_prec_set_acc(out, GGML_PREC_F32);
  }
  out = ggml_reshape_2d(ctx, out, Dh * H, T);
  return ggml_mul_mat(ctx, w.wo, out);
}

ggml_tensor* FeedForward(ggml_context* ctx, const LayerWeights& w, ggml_tensor* n) {
  ggml_tensor* gate = ggml_mul_mat(ctx, w.ffn_gate, n);  // (F, T)
  ggml_tensor* up = ggml_mul_mat(ctx, w.ffn_up, n);      // (F, T)
  return ggml_mul_mat(ctx, w.ffn_down, ggml_swiglu_split(ctx, gate, up));
}

}  // namespace

ForwardGraph BuildForwardGraph(ggml_context* ctx, const Model& m, const KvCache& kv, int n_kv, int T,
                               int n_outputs, const GraphTaps& taps, std::unique_ptr<PolicyGraph> policy_graph,
                               const KvCache* gathered, bool write_kv, AttentionKernel kernel, bool sparse_prefill) {
  const ModelConfig& c = m.config();
  const ModelWeights& w = m.weights();
  if (sparse_prefill && (!gathered || !write_kv || !policy_graph)) {
    Fail("sparse prefill needs a gathered cache, the full cache and the policy's graph nodes");
  }
  ForwardGraph fg;
  fg.policy = std::move(policy_graph);
  PolicyGraph* hook = fg.policy.get();
  fg.graph = ggml_new_graph_custom(ctx, ForwardGraphMaxNodes(c.n_layer), false);
  fg.n_kv = n_kv;

  fg.inp_tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
  fg.inp_pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
  if (write_kv) {  // an evicting policy's decode writes no full-cache row
    fg.inp_kv_rows = ggml_new_tensor_1d(ctx, GGML_TYPE_I64, T);
    ggml_set_input(fg.inp_kv_rows);
  }
  ggml_set_input(fg.inp_tokens);
  ggml_set_input(fg.inp_pos);
  if (!gathered) {
    fg.inp_mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, fg.n_kv, T);
    ggml_set_input(fg.inp_mask);
  }
  if (gathered && !sparse_prefill) {
    if (T != 1) Fail("gathered attention runs one token at a time, not ", T);
    for (int il = 0; il < c.n_layer; ++il) {
      fg.inp_gather_row.push_back(ggml_new_tensor_1d(ctx, GGML_TYPE_I64, 1));
      fg.inp_gather_mask.push_back(ggml_new_tensor_2d(ctx, GGML_TYPE_F16, n_kv, 1));
      ggml_set_input(fg.inp_gather_row.back());
      ggml_set_input(fg.inp_gather_mask.back());
    }
  }
  if (n_outputs < T) {
    fg.inp_out_ids = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_outputs);
    ggml_set_input(fg.inp_out_ids);
  }

  ggml_tensor* x = ggml_get_rows(ctx, w.tok_embd, fg.inp_tokens);  // (D, T)
  for (int il = 0; il < c.n_layer; ++il) {
    const LayerWeights& lw = w.layers[il];
    ggml_tensor* h = RmsNorm(ctx, x, lw.attn_norm, c.rms_eps);
    if (taps.attn_in) fg.attn_in.push_back(Tap(h));
    if (hook) hook->AtAttentionInput(ctx, fg.graph, il, h, fg.inp_pos);
    ggml_tensor* attn = Attention(ctx, fg.graph, m, kv, il, h, fg, T, taps, gathered, write_kv, kernel, sparse_prefill);
    if (il == c.n_layer - 1 && fg.inp_out_ids) {
      // Only the output rows go on: (D, n_out).
      attn = ggml_get_rows(ctx, attn, fg.inp_out_ids);
      x = ggml_get_rows(ctx, x, fg.inp_out_ids);
    }
    x = ggml_add(ctx, x, attn);
    ggml_tensor* n = RmsNorm(ctx, x, lw.ffn_norm, c.rms_eps);
    x = ggml_add(ctx, x, FeedForward(ctx, lw, n));
    if (il == 0 && taps.layer1_out) fg.layer1_out = Tap(x);
    if (il == 0 && hook) hook->AtLayer1Output(ctx, fg.graph, x);
  }
  x = RmsNorm(ctx, x, w.output_norm, c.rms_eps);
  fg.logits = ggml_mul_mat(ctx, w.output, x);  // (V, n_out)
  ggml_set_output(fg.logits);
  ggml_build_forward_expand(fg.graph, fg.logits);
  return fg;
}

}  // namespace chunkllm
