// The trained adapters at inference. The per-token products that every token needs (the
// K-Adapters of mean keys, the Chunk Adapter's first layer) run in the forward graph over the
// batch's rows, from tensors(); what a selection needs (one token's Q-Adapter queries) and the
// small rest run here on the CPU, one token at a time.
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

  // x: attn_norm(h_{l-1}) of one token (D floats) -> out (r floats): the Q-Adapter's query
  // of a token that makes a selection. (Keys come from the forward graph: key_features.)
  void Query(int layer, const float* x, float* out) const;
  // Rotates the first rope_dims features of a query (r floats) in place by position `pos`, as
  // the forward graph rotates the key features (RoPE's normal mode, the same float recurrence
  // for the angles as ggml's); nothing without rope_dims.
  void RotateQuery(int pos, float* q) const;
  // The learned score bias of a candidate `distance` chunks back (chunk/chunk_distance.h);
  // 0 for adapters without one.
  float DistanceBias(int layer, int distance) const;
  // The query-dependent distance score q . E[bucket(distance)] / sqrt(r) of a candidate
  // `distance` chunks back, for the query q (r floats); 0 for adapters without it.
  float QueryDistanceScore(int layer, int distance, const float* query) const;
  // The query-dependent log features' score (adapter_set.h query_features) of a candidate of
  // `tokens` tokens whose last token lies `token_distance` positions before the query q (r
  // floats): (q . u / sqrt(r)) log(tokens) + (w + q . v / sqrt(r)) log(token_distance); 0 for
  // adapters without them. A distance below 1 (no query yet) counts as 1.
  float LogFeatureScore(int layer, int tokens, int token_distance, const float* query) const;
  // The learned score bias w_l * log(tokens) of a candidate chunk of `tokens` tokens; 0 for
  // adapters without the length bias.
  float LengthBias(int layer, int tokens) const;
  // The Chunk Adapter's probability (sigmoid) from the graph's boundary parts
  // (ForwardGraph::boundary_parts) of the n = boundary_inputs consecutive tokens it reads:
  // parts (n, n Hc), row j the parts of the j-th oldest token (a row of zeros before the
  // sequence's first token). Block k of the k-th oldest token's row is W1's block k times its
  // h_1, so W1 times the window's h_1 is the sum of those blocks.
  float BoundaryProbabilityFromParts(const float* parts) const;
  // The matrices for the forward graph (GraphTaps::adapters).
  const AdapterTensors& tensors() const { return *tensors_; }

 private:
  // The Chunk Adapter after its first layer: pre (Hc) = W1 h + b1 -> sigmoid of the output.
  float BoundaryFromPreActivation(const float* pre) const;
  AdapterSet a_;
  int D_, Da_, r_;
  mutable std::vector<float> hidden_;
  std::unique_ptr<AdapterTensors> tensors_;
};

// The chunk scores of adapters with G score groups (adapter_set.h): logits (G, n), group g's
// logits of n candidates -> out (n) = log((1/G) sum_g softmax(logits_g)), the training
// objective's log-probabilities (train/adapter_losses.h ChunkLogProbs).
void MixtureLogProbs(const std::vector<float>& logits, int groups, std::vector<float>& out);

}  // namespace chunkllm
