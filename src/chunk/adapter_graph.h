// AdapterGraph: ChunkLLM's nodes in one forward graph (model/graph_hook.h). Every token of a
// batch needs two adapter products, which run here over the batch's rows with ggml's matrix
// products rather than one CPU matrix-vector product per token beside the graph:
//   per layer l: the K-Adapter features  RotateFeatures(W2 silu(W1 x), pos)   (r, T)
//                x = attn_norm(h_{l-1}), rotated by position (chunk/chunk_score.h)
//   once:        the Chunk Adapter's first layer cut into its n input blocks times h_1
//                (the boundary parts, AdapterTensors)                        (n Hc, T)
// After the graph ran, Read copies them to the host for the chunk index (chunk/chunk_index.h).
// For sparse prefill (chunk/sparse_prefill.h) it also runs, per layer, the Q-Adapter over the
// batch's rows, W2 silu(W1 x) (r, T), and a node that hands those queries to the policy (a
// PrefillGatherer), which fills the layer's gathered rows and returns the mask over them.
#pragma once

#include <vector>

#include "chunk/adapter_runtime.h"
#include "model/graph_hook.h"

namespace chunkllm {

// What a sparse-prefill node calls while the graph runs, on one thread, after layer `layer`'s
// K/V of the batch were written to the full cache: features (T, r) row-major are the batch's
// Q-Adapter queries, rotated the same rotated by their positions; it fills the layer's gathered
// rows and writes the mask (n_kv, T) over them (AttentionPolicy::PrefillBatch).
class PrefillGatherer {
 public:
  virtual ~PrefillGatherer() = default;
  virtual void GatherLayer(int layer, const float* features, const float* rotated, int T, int n_kv,
                           ggml_fp16_t* mask) = 0;
};

class AdapterGraph final : public PolicyGraph {
 public:
  // boundary: whether the Chunk Adapter runs (not for fixed-length chunks); gatherer: the
  // policy's sparse prefill (null: none).
  AdapterGraph(const AdapterRuntime& adapters, bool boundary, PrefillGatherer* gatherer = nullptr);

  void AtAttentionInput(ggml_context* ctx, ggml_cgraph* gf, int il, ggml_tensor* x, ggml_tensor* pos) override;
  void AtLayer1Output(ggml_context* ctx, ggml_cgraph* gf, ggml_tensor* h1) override;
  ggml_tensor* SparsePrefillMask(ggml_context* ctx, ggml_cgraph* gf, int il, ggml_tensor* x, ggml_tensor* pos,
                                 ggml_tensor* written_k, ggml_tensor* written_v, int n_kv) override;

  // The batch's n rows after the graph ran: keys (L, n, r) the K-Adapter features, and (with the
  // Chunk Adapter) parts (n, n Hc) the boundary parts; parts is left alone without it.
  void Read(int n, std::vector<float>& keys, std::vector<float>& parts) const;

 private:
  const AdapterRuntime& a_;
  bool boundary_;
  std::vector<ggml_tensor*> key_features_;  // per layer (r, T)
  ggml_tensor* boundary_parts_ = nullptr;   // (n Hc, T)

 public:
  // What a layer's sparse-prefill node calls (the node's userdata).
  struct PrefillCall {
    PrefillGatherer* gatherer;
    int layer;
  };

 private:
  PrefillGatherer* gatherer_;
  std::vector<PrefillCall> prefill_calls_;  // one per layer, reserved up front
};

}  // namespace chunkllm
