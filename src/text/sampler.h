// Sampler: libllama's sampler chain (top-k, top-p, temperature, seeded draw, or greedy)
// applied to logits computed by our engine.
#pragma once

#include <cstdint>
#include <vector>

struct llama_sampler;

namespace chunkllm {

struct SamplerParams {
  float temperature = 0.8f;  // <= 0 means greedy
  int top_k = 40;            // <= 0 disables
  float top_p = 0.95f;       // >= 1 disables
  uint32_t seed = 0xFFFFFFFF;  // LLAMA_DEFAULT_SEED: random
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Picks the next token from logits (V floats) and records it in the sampler's history.
  int32_t Sample(const std::vector<float>& logits);

 private:
  llama_sampler* chain_ = nullptr;
  std::vector<uint8_t> scratch_;  // llama_token_data[V]
};

// Index of the largest logit (the greedy choice; ties go to the lower id).
int32_t ArgMax(const std::vector<float>& logits);

}  // namespace chunkllm
