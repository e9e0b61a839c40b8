// AdapterGraph: ChunkLLM's nodes in one forward graph (model/graph_hook.h). Every token of a
// batch needs two adapter products, which run here over the batch's rows with ggml's matrix
// products rather than one CPU matrix-vector product per token beside the graph:
//   per layer l: the K-Adapter features  RotateFeatures(W2 silu(W1 x), pos)   (r, T)
//                x = attn_norm(h_{l-1}), rotated by position (chunk/chunk_score.h)
//   once:        the Chunk Adapter's first layer cut into its n input blocks times h_1
//                (the boundary parts, AdapterTensors)                        (n Hc, T)
// After the graph ran, Read copies them to the host for the chunk index (chunk/chunk_index.h).
#pragma once

#include <vector>

#include "chunk/adapter_runtime.h"
#include "model/graph_hook.h"

namespace chunkllm {

class AdapterGraph final : public PolicyGraph {
 public:
  // boundary: whether the Chunk Adapter runs (not for fixed-length chunks).
  AdapterGraph(const AdapterRuntime& adapters, bool boundary) : a_(adapters), boundary_(boundary) {}

  void AtAttentionInput(ggml_context* ctx, ggml_cgraph* gf, int il, ggml_tensor* x, ggml_tensor* pos) override;
  void AtLayer1Output(ggml_context* ctx, ggml_cgraph* gf, ggml_tensor* h1) override;

  // The batch's n rows after the graph ran: keys (L, n, r) the K-Adapter features, and (with the
  // Chunk Adapter) parts (n, n Hc) the boundary parts; parts is left alone without it.
  void Read(int n, std::vector<float>& keys, std::vector<float>& parts) const;

 private:
  const AdapterRuntime& a_;
  bool boundary_;
  std::vector<ggml_tensor*> key_features_;  // per layer (r, T)
  ggml_tensor* boundary_parts_ = nullptr;   // (n Hc, T)
};

}  // namespace chunkllm
