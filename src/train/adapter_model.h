// The trainable ChunkLLM parts in libtorch: every layer's Q/K adapters as batched weights and
// the Chunk Adapter (formulas in chunk/adapter_set.h). The backbone is not here: it is frozen
// and only seen through the teacher's outputs.
#pragma once

#include <torch/torch.h>

#include "chunk/adapter_set.h"

namespace chunkllm {

class AdapterModelImpl : public torch::nn::Module {
 public:
  // Weights ~ N(0, 1/fan_in): features start at unit scale.
  AdapterModelImpl(int n_layer, int n_embd, const AdapterHyperParams& hp, uint64_t seed);

  // x: (L, T, D) adapter inputs -> (L, T, r) features.
  torch::Tensor QueryFeatures(const torch::Tensor& x) const { return Features(x, q_w1, q_w2); }
  torch::Tensor KeyFeatures(const torch::Tensor& x) const { return Features(x, k_w1, k_w2); }
  // h1: (T, D) layer-1 hidden states of a window -> (T - boundary_delay) boundary logits, one
  // for each token whose input tokens (adapter_set.h) have all come.
  torch::Tensor BoundaryLogits(const torch::Tensor& h1) const;

  // Copies the weights into a (the base model and training record are the caller's).
  void ExportTo(AdapterSet& a) const;
  void ImportFrom(const AdapterSet& a);  // throws Error unless a has this model's shape

  AdapterHyperParams hp;
  torch::Tensor q_w1, q_w2, k_w1, k_w2;  // (L, Da, D), (L, r, Da)
  torch::Tensor c_w1, c_b1, c_w2, c_b2;  // (Hc | 1, n D), (Hc | 1); hidden only: (Hc), (1)
  torch::Tensor dist_bias;               // (L, B) chunk-distance score bias; undefined when B = 0
  torch::Tensor dist_emb;                // (L, B, r) distance embedding; undefined without query_distance
  // Undefined without query_features: (L, 2, r) query embeddings u, v of the log features and
  // (L) the weight w of log(token distance).
  torch::Tensor feat_emb, tokdist_w;
  torch::Tensor len_w;                   // (L) weight of log(chunk length); undefined without length_bias

 private:
  static torch::Tensor Features(const torch::Tensor& x, const torch::Tensor& w1, const torch::Tensor& w2) {
    return torch::matmul(torch::silu(torch::matmul(x, w1.transpose(1, 2))), w2.transpose(1, 2));
  }
};
TORCH_MODULE(AdapterModel);

}  // namespace chunkllm
