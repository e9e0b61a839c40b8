// PolicyGraph: an attention policy's own nodes in one forward graph. The model builds the
// backbone's graph and calls this hook at fixed points of it without knowing what the policy
// computes there, as llama.cpp's graph builder lets its memory module add inputs of its own kind
// (llama_memory_i), so ChunkLLM's adapters live in chunk/ (chunk/adapter_graph.h) and model/
// knows nothing of them.
//
// A policy makes one per built graph (AttentionPolicy::NewGraph); the graph owns it and hands it
// back with the policy's sequence of the graph after it ran (SequenceGraph::policy,
// AttentionPolicy::EndBatch), so what it built lives exactly as long as the graph that holds it.
// A graph that decodes several sessions together holds one per session, each called with its
// own session's rows only.
#pragma once

#include "ggml.h"

namespace chunkllm {

class PolicyGraph {
 public:
  virtual ~PolicyGraph() = default;
  // Layer il's attention input x = attn_norm(h_{il-1}), (D, T), of the batch's T tokens at
  // positions pos (I32 [T]); called before the layer's attention is built. Nodes that must run
  // go into gf (ggml_build_forward_expand); a tensor read after the run must be ggml_set_output.
  virtual void AtAttentionInput(ggml_context* ctx, ggml_cgraph* gf, int il, ggml_tensor* x, ggml_tensor* pos) {}
  // h_1, the residual stream after the first layer, (D, T): every token's when the policy's taps
  // ask for it (GraphTaps::hook_layer1), else possibly only the output rows of a one-layer model.
  virtual void AtLayer1Output(ggml_context* ctx, ggml_cgraph* gf, ggml_tensor* h1) {}
  // Sparse prefill (AttentionPolicy::PrefillBatch): layer il's mask F16 [n_kv, T] over the rows
  // of the gathered cache that its attention reads, made by a node of the policy's that also
  // fills those rows while the graph runs. x is the layer's attention input (D, T), pos the
  // tokens' positions; written_k/written_v are the nodes that store the batch's K/V in the full
  // cache (the gathering node must run after them, so it takes them as sources).
  virtual ggml_tensor* SparsePrefillMask(ggml_context* ctx, ggml_cgraph* gf, int il, ggml_tensor* x, ggml_tensor* pos,
                                         ggml_tensor* written_k, ggml_tensor* written_v, int n_kv) {
    return nullptr;
  }
};

}  // namespace chunkllm
