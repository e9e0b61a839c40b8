// The adapters' per-token matrices copied into ggml tensors in a CPU backend buffer, for the
// forward graph to run over a batch's rows (model/forward_graph.h AdapterGraphWeights): the
// K-Adapters of every layer and the Chunk Adapter's first layer, cut into its input blocks.
// Queries are not here: a selection needs one token's, which AdapterRuntime computes.
#pragma once

#include "chunk/adapter_set.h"
#include "ggml-backend.h"
#include "model/forward_graph.h"

namespace chunkllm {

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
