#include "model/forward_graph.h"

#include <cmath>

#include "core/error.h"
#include "ggml-backend.h"
#include "model/batched_matvec.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace chunkllm {

size_t ForwardGraphMaxNodes(int n_layer, int n_seqs) { return size_t(64 * n_layer) * size_t(n_seqs) + 256; }

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

// Marks a tapped tensor as an output, so the allocator keeps it until the caller reads it.
ggml_tensor* Tap(ggml_tensor* t) {
  ggml_set_output(t);
  return t;
}

// Tokens [first, first + n) of t, a contiguous view; t's tokens lie along dimension token_dim
// (0 for the positions, I32 [T]; 1 for activations (D, T); 2 for heads (Dh, H, T)).
ggml_tensor* Rows(ggml_context* ctx, ggml_tensor* t, int token_dim, int first, int n) {
  if (token_dim == 0) return ggml_view_1d(ctx, t, n, size_t(first) * t->nb[0]);
  if (token_dim == 1) return ggml_view_2d(ctx, t, t->ne[0], n, t->nb[1], size_t(first) * t->nb[1]);
  return ggml_view_3d(ctx, t, t->ne[0], t->ne[1], n, t->nb[1], t->nb[2], size_t(first) * t->nb[2]);
}

// The graph being built and what every layer shares.
struct Builder {
  ggml_context* ctx;
  ggml_cgraph* gf;
  const Model& m;
  ForwardGraph& fg;
  const std::vector<SequenceSpec>& specs;
  AttentionKernel kernel;
  bool one = specs.size() == 1;  // a single sequence: its rows are the whole batch (no views)

  // Sequence s's tokens of t (whose tokens lie along token_dim, see Rows).
  ggml_tensor* Of(ggml_tensor* t, int token_dim, const SequenceGraph& s) const {
    return one ? t : Rows(ctx, t, token_dim, s.first_token, s.n_tokens);
  }
  // A tap of one sequence's rows: the tensor itself, or a copy of its rows (policies read taps
  // from their first row), which nothing else uses, so it goes into the graph here.
  ggml_tensor* TapOf(ggml_tensor* t, int token_dim, const SequenceGraph& s) const {
    return one ? Tap(t) : TapCopy(Rows(ctx, t, token_dim, s.first_token, s.n_tokens));
  }
  ggml_tensor* TapCopy(ggml_tensor* rows) const {
    ggml_tensor* copy = Tap(ggml_cont(ctx, rows));
    ggml_build_forward_expand(gf, copy);
    return copy;
  }

  // w x for the batch's tokens x (K, T): (M, T). With our kernels, f16 weights take the batched
  // mat-vec op (model/batched_matvec.h: each weight converted once for every column, every column
  // summed in one order whatever the others are) for a decode step (T <= 16) and for any graph of
  // several sessions, so a session decodes the same bits alone and in a server's batch of any
  // size. Other weight types, and ggml's kernels, in a graph of several sessions make the tokens
  // a batch dimension of one-column products, (K, 1, T): ggml then computes each column with the
  // dot product a lone decode uses (the same bits), rather than with the tiled GEMM it picks for
  // two columns or more (slower at this size, and another summation order).
  ggml_tensor* MatMul(ggml_tensor* w, ggml_tensor* x) const {
    if (kernel == AttentionKernel::kChunkllm && BatchedMatVecSupports(w) && (!one || x->ne[1] <= kBatchedMatVecMaxTokens)) {
      return BatchedMatVec(ctx, w, x);
    }
    if (one) return ggml_mul_mat(ctx, w, x);
    ggml_tensor* y = ggml_mul_mat(ctx, w, ggml_reshape_3d(ctx, x, x->ne[0], 1, x->ne[1]));  // (M, 1, T)
    return ggml_reshape_2d(ctx, y, y->ne[0], y->ne[2]);
  }

  ggml_tensor* FeedForward(const LayerWeights& w, ggml_tensor* n) const {
    ggml_tensor* gate = MatMul(w.ffn_gate, n);  // (F, T)
    ggml_tensor* up = MatMul(w.ffn_up, n);      // (F, T)
    return MatMul(w.ffn_down, ggml_swiglu_split(ctx, gate, up));
  }

  // Sequence s's attention in layer il over its cache: (Dh, H, T_s).
  ggml_tensor* SequenceAttention(int il, size_t si, ggml_tensor* h, ggml_tensor* q, ggml_tensor* k2d, ggml_tensor* v) {
    const ModelConfig& c = m.config();
    const SequenceSpec& spec = specs[si];
    SequenceGraph& s = fg.seqs[si];
    const int Dh = c.head_dim, Hkv = c.n_head_kv;
    k2d = Of(k2d, 1, s);
    v = Of(v, 1, s);
    // Write this batch's K and V into their cache rows. Expanded before the attention node, so
    // the attention below reads them (ggml runs nodes in insertion order).
    ggml_tensor *written_k = nullptr, *written_v = nullptr;
    if (spec.write_kv) {
      written_k = ggml_set_rows(ctx, spec.kv->k(il), k2d, s.inp_kv_rows);
      written_v = ggml_set_rows(ctx, spec.kv->v(il), v, s.inp_kv_rows);
      ggml_build_forward_expand(gf, written_k);
      ggml_build_forward_expand(gf, written_v);
    }
    const KvCache& src = spec.gathered ? *spec.gathered : *spec.kv;
    ggml_tensor* mask = s.inp_mask;
    if (spec.sparse_prefill) {
      mask = s.policy->SparsePrefillMask(ctx, gf, il, Of(h, 1, s), Of(fg.inp_pos, 0, s), written_k, written_v, s.n_kv);
      if (!mask || mask->type != GGML_TYPE_F16 || mask->ne[0] != s.n_kv || mask->ne[1] != s.n_tokens) {
        Fail("the policy's sparse-prefill mask of layer ", il, " is not F16 [", s.n_kv, ", ", s.n_tokens, "]");
      }
    } else if (spec.gathered) {
      mask = s.inp_gather_mask[size_t(il)];
      ggml_build_forward_expand(gf, ggml_set_rows(ctx, src.k(il), k2d, s.inp_gather_row[size_t(il)]));
      ggml_build_forward_expand(gf, ggml_set_rows(ctx, src.v(il), v, s.inp_gather_row[size_t(il)]));
    }

    // Attend over rows [0, n_kv) of the source cache: views (Dh, n_kv, Hkv).
    ggml_tensor* k_cache = src.k(il);
    ggml_tensor* v_cache = src.v(il);
    const size_t head_k = ggml_row_size(k_cache->type, Dh), head_v = ggml_row_size(v_cache->type, Dh);
    ggml_tensor* K = ggml_view_3d(ctx, k_cache, Dh, s.n_kv, Hkv, k_cache->nb[1], head_k, 0);
    ggml_tensor* V = ggml_view_3d(ctx, v_cache, Dh, s.n_kv, Hkv, v_cache->nb[1], head_v, 0);
    q = Of(q, 2, s);
    return AttentionWithKernel(ctx, kernel, q, K, V, mask, 1.0f / std::sqrt(float(Dh)));
  }

  // Self-attention of one layer for the batch; returns Wo * attn, (D, T).
  ggml_tensor* Attention(int il, ggml_tensor* h, int T) {
    const ModelConfig& c = m.config();
    const LayerWeights& w = m.weights().layers[il];
    const int Dh = c.head_dim, H = c.n_head, Hkv = c.n_head_kv;

    ggml_tensor* q = MatMul(w.wq, h);  // (H*Dh, T)
    ggml_tensor* k = MatMul(w.wk, h);  // (Hkv*Dh, T)
    ggml_tensor* v = MatMul(w.wv, h);  // (Hkv*Dh, T)
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
    ggml_tensor* k2d = ggml_reshape_2d(ctx, k, c.n_embd_kv(), T);
    ggml_tensor* out = nullptr;  // (Dh*H, T)
    for (size_t si = 0; si < specs.size(); ++si) {
      SequenceGraph& s = fg.seqs[si];
      if (specs[si].taps.q_rope) s.q_rope.push_back(TapOf(q, 2, s));
      ggml_tensor* o = ggml_reshape_2d(ctx, SequenceAttention(il, si, h, q, k2d, v), Dh * H, s.n_tokens);
      out = out ? ggml_concat(ctx, out, o, 1) : o;  // copies grow with the sessions; a few, small
    }
    return MatMul(w.wo, out);
  }
};

// A graph input: the caller fills it before each run.
ggml_tensor* Input(ggml_tensor* t) {
  ggml_set_input(t);
  return t;
}

}  // namespace

ForwardGraph BuildForwardGraph(ggml_context* ctx, const Model& m, std::vector<SequenceSpec> specs, AttentionKernel kernel) {
  const ModelConfig& c = m.config();
  const ModelWeights& w = m.weights();
  if (specs.empty()) Fail("a forward graph needs at least one sequence");
  ForwardGraph fg;
  fg.graph = ggml_new_graph_custom(ctx, ForwardGraphMaxNodes(c.n_layer, int(specs.size())), false);
  int T = 0, n_out = 0;
  for (SequenceSpec& spec : specs) {
    if (spec.n_tokens <= 0 || spec.n_outputs <= 0 || spec.n_outputs > spec.n_tokens) {
      Fail("a sequence of ", spec.n_tokens, " tokens cannot have ", spec.n_outputs, " outputs");
    }
    if (spec.sparse_prefill && (!spec.gathered || !spec.write_kv || !spec.policy)) {
      Fail("sparse prefill needs a gathered cache, the full cache and the policy's graph nodes");
    }
    SequenceGraph s;
    s.first_token = T, s.n_tokens = spec.n_tokens;
    s.first_output = n_out, s.n_outputs = spec.n_outputs;
    s.n_kv = spec.n_kv;
    s.policy = std::move(spec.policy);
    if (spec.write_kv) s.inp_kv_rows = Input(ggml_new_tensor_1d(ctx, GGML_TYPE_I64, spec.n_tokens));  // an evicting decode writes none
    if (!spec.gathered) s.inp_mask = Input(ggml_new_tensor_2d(ctx, GGML_TYPE_F16, spec.n_kv, spec.n_tokens));
    if (spec.gathered && !spec.sparse_prefill) {
      if (spec.n_tokens != 1) Fail("gathered attention runs one token at a time, not ", spec.n_tokens);
      for (int il = 0; il < c.n_layer; ++il) {
        s.inp_gather_row.push_back(Input(ggml_new_tensor_1d(ctx, GGML_TYPE_I64, 1)));
        s.inp_gather_mask.push_back(Input(ggml_new_tensor_2d(ctx, GGML_TYPE_F16, spec.n_kv, 1)));
      }
    }
    T += spec.n_tokens;
    n_out += spec.n_outputs;
    fg.seqs.push_back(std::move(s));
  }
  fg.inp_tokens = Input(ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T));
  fg.inp_pos = Input(ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T));
  if (n_out < T) fg.inp_out_ids = Input(ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_out));

  Builder b{ctx, fg.graph, m, fg, specs, kernel};
  ggml_tensor* x = ggml_get_rows(ctx, w.tok_embd, fg.inp_tokens);  // (D, T)
  for (int il = 0; il < c.n_layer; ++il) {
    const LayerWeights& lw = w.layers[il];
    ggml_tensor* h = RmsNorm(ctx, x, lw.attn_norm, c.rms_eps);
    for (size_t si = 0; si < specs.size(); ++si) {
      SequenceGraph& s = fg.seqs[si];
      if (specs[si].taps.attn_in) s.attn_in.push_back(b.TapOf(h, 1, s));
      if (s.policy) s.policy->AtAttentionInput(ctx, fg.graph, il, b.Of(h, 1, s), b.Of(fg.inp_pos, 0, s));
    }
    ggml_tensor* attn = b.Attention(il, h, T);
    const bool pruned = il == c.n_layer - 1 && fg.inp_out_ids;
    if (pruned) {
      // Only the output rows go on: (D, n_out).
      attn = ggml_get_rows(ctx, attn, fg.inp_out_ids);
      x = ggml_get_rows(ctx, x, fg.inp_out_ids);
    }
    x = ggml_add(ctx, x, attn);
    ggml_tensor* n = RmsNorm(ctx, x, lw.ffn_norm, c.rms_eps);
    x = ggml_add(ctx, x, b.FeedForward(lw, n));
    if (il != 0) continue;
    for (size_t si = 0; si < specs.size(); ++si) {
      SequenceGraph& s = fg.seqs[si];
      if (!specs[si].taps.layer1_out && !s.policy) continue;
      // A one-layer model's h_1 has only the output rows left.
      ggml_tensor* h1 = b.one ? x : pruned ? Rows(ctx, x, 1, s.first_output, s.n_outputs) : Rows(ctx, x, 1, s.first_token, s.n_tokens);
      if (specs[si].taps.layer1_out) s.layer1_out = b.one ? Tap(x) : b.TapCopy(h1);
      if (s.policy) s.policy->AtLayer1Output(ctx, fg.graph, h1);
    }
  }
  x = RmsNorm(ctx, x, w.output_norm, c.rms_eps);
  fg.logits = b.MatMul(w.output, x);  // (V, n_out)
  ggml_set_output(fg.logits);
  ggml_build_forward_expand(fg.graph, fg.logits);
  return fg;
}

void SetBatchInputs(const ForwardGraph& fg, const std::vector<int32_t>& tokens, const std::vector<int32_t>& pos,
                    const std::vector<int32_t>& out_ids) {
  ggml_backend_tensor_set(fg.inp_tokens, tokens.data(), 0, sizeof(int32_t) * tokens.size());
  ggml_backend_tensor_set(fg.inp_pos, pos.data(), 0, sizeof(int32_t) * pos.size());
  if (fg.inp_out_ids) ggml_backend_tensor_set(fg.inp_out_ids, out_ids.data(), 0, sizeof(int32_t) * out_ids.size());
}

}  // namespace chunkllm
