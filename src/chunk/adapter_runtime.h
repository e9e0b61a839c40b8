// The trained adapters evaluated on the CPU, one token at a time, at inference. They are
// tiny (per layer D*Da + Da*r multiply-adds per adapter, about 0.04 M for the demo backbone)
// and only run at chunk boundaries, so no graph is needed.
#pragma once

#include "chunk/adapter_set.h"

namespace chunkllm {

class AdapterRuntime {
 public:
  explicit AdapterRuntime(AdapterSet adapters);

  int rank() const { return a_.hp.rank; }
  int n_layer() const { return int(a_.layers.size()); }
  const AdapterSet& adapters() const { return a_; }

  // x: attn_norm(h_{l-1}) of one token (D floats) -> out (r floats).
  void Query(int layer, const float* x, float* out) const;
  void Key(int layer, const float* x, float* out) const;
  // The learned score bias of a candidate `distance` chunks back (chunk/chunk_distance.h);
  // 0 for adapters without one.
  float DistanceBias(int layer, int distance) const;
  // The learned score bias w_l * log(tokens) of a candidate chunk of `tokens` tokens; 0 for
  // adapters without the length bias.
  float LengthBias(int layer, int tokens) const;
  // h: the layer-1 outputs of boundary_inputs consecutive tokens, oldest first
  // (ChunkAdapterInputWidth floats) -> sigmoid of the Chunk Adapter.
  float BoundaryProbability(const float* h) const;

 private:
  void Mlp(const std::vector<float>& w1, const std::vector<float>& w2, const float* x, float* out) const;
  AdapterSet a_;
  int D_, Da_, r_;
  int chunk_in_;  // the Chunk Adapter's input width
  mutable std::vector<float> hidden_;
};

// The chunk scores of adapters with G score groups (adapter_set.h): logits (G, n), group g's
// logits of n candidates -> out (n) = log((1/G) sum_g softmax(logits_g)), the training
// objective's log-probabilities (train/adapter_losses.h ChunkLogProbs).
void MixtureLogProbs(const std::vector<float>& logits, int groups, std::vector<float>& out);

}  // namespace chunkllm
