// The adapters' per-token matrices copied into ggml tensors in a CPU backend buffer, for the
// forward graph to run over a batch's rows (chunk/adapter_graph.h): the K- and Q-Adapters of
// every layer and the Chunk Adapter's first layer, cut into its input blocks. The Q-Adapters run
// in the graph only for sparse prefill, where a micro-batch's tokens all query; a decode
// selection needs one token's query, which AdapterRuntime computes. Read-only after construction, so
// the graphs of any number of sessions may read them at once.
#pragma once

#include <vector>

#include "chunk/adapter_set.h"
#include "ggml-backend.h"

namespace chunkllm {

// ggml shapes (ne0, ne1), i.e. row-major [ne1][ne0] as the adapter file stores them.
struct AdapterGraphWeights {
  std::vector<ggml_tensor*> key_w1;  // per layer: K-Adapter W1 (D, Da)
  std::vector<ggml_tensor*> key_w2;  // per layer: K-Adapter W2 (Da, r)
  std::vector<ggml_tensor*> query_w1;  // per layer: Q-Adapter W1 (D, Da)
  std::vector<ggml_tensor*> query_w2;  // per layer: Q-Adapter W2 (Da, r)
  // The Chunk Adapter's first layer W1 (n*D -> Hc, Hc = max(hidden, 1)) cut into its n input
  // blocks (one per token it reads) stacked: (D, n*Hc), rows k*Hc .. k*Hc+Hc-1 are block k.
  // Multiplying every token's h_1 by it once gives each token's share of every window it is in.
  ggml_tensor* boundary_w1 = nullptr;
};

class AdapterTensors {
 public:
  explicit AdapterTensors(const AdapterSet& a);
  ~AdapterTensors();
  AdapterTensors(const AdapterTensors&) = delete;
  AdapterTensors& operator=(const AdapterTensors&) = delete;

  const AdapterGraphWeights& weights() const { return w_; }
  // Hc: rows of each input block of boundary_w1 (the Chunk Adapter's hidden width, 1 if linear).
  int boundary_block_rows() const { return block_rows_; }

 private:
  ggml_context* ctx_ = nullptr;
  ggml_backend_buffer_t buffer_ = nullptr;
  AdapterGraphWeights w_;
  int block_rows_ = 1;
};

}  // namespace chunkllm
