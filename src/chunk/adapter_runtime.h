// The trained adapters at inference, immutable after load, so one instance serves every policy
// and sequence of a PolicySpec (chunk/policy_spec.h), from any thread. The per-token products
// that every token needs (the K-Adapters, the Chunk Adapter's first layer) run in the forward
// graph over the batch's rows, from tensors() (chunk/adapter_graph.h); what a selection needs
// (one token's Q-Adapter queries) and the small rest of the Chunk Adapter run here on the CPU,
// one token at a time. The chunk score itself: chunk/chunk_score.h.
#pragma once

#include <memory>

#include "chunk/adapter_set.h"
#include "chunk/adapter_tensors.h"

namespace chunkllm {

class AdapterRuntime {
 public:
  explicit AdapterRuntime(AdapterSet adapters);

  int rank() const { return a_.hp.rank; }
  int n_layer() const { return int(a_.layers.size()); }
  const AdapterSet& adapters() const { return a_; }
  const AdapterHyperParams& hp() const { return a_.hp; }

  // x: attn_norm(h_{l-1}) of one token (D floats) -> out (r floats): the Q-Adapter's query
  // W2 silu(W1 x) of a token that makes a selection. (Keys come from the forward graph.)
  void Query(int layer, const float* x, float* out) const;
  // The Chunk Adapter's probability (sigmoid) from the graph's boundary parts
  // (AdapterGraph::Read) of the n = boundary_inputs consecutive tokens it reads:
  // parts (n, n Hc), row j the parts of the j-th oldest token (a row of zeros before the
  // sequence's first token). Block k of the k-th oldest token's row is W1's block k times its
  // h_1, so W1 times the window's h_1 is the sum of those blocks.
  float BoundaryProbabilityFromParts(const float* parts) const;
  // The matrices for the forward graph.
  const AdapterTensors& tensors() const { return *tensors_; }

 private:
  // The Chunk Adapter after its first layer: pre (Hc) = W1 h + b1 -> sigmoid of the output.
  float BoundaryFromPreActivation(const float* pre) const;
  AdapterSet a_;
  int D_, Da_, r_;
  std::unique_ptr<AdapterTensors> tensors_;
};

}  // namespace chunkllm
