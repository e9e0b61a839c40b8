// Model: a loaded, immutable Llama-family model (config + weights in a ggml CPU buffer).
// Sessions (session.h) own everything mutable: the KV cache, scratch and policy state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "model/model_config.h"

namespace chunkllm {

struct LayerWeights {
  ggml_tensor* attn_norm = nullptr;  // [D]
  ggml_tensor* wq = nullptr;         // [D, H*Dh]
  ggml_tensor* wk = nullptr;         // [D, Hkv*Dh]
  ggml_tensor* wv = nullptr;         // [D, Hkv*Dh]
  ggml_tensor* wo = nullptr;         // [H*Dh, D]
  ggml_tensor* bq = nullptr;         // [H*Dh]   qwen2 only
  ggml_tensor* bk = nullptr;         // [Hkv*Dh] qwen2 only
  ggml_tensor* bv = nullptr;         // [Hkv*Dh] qwen2 only
  ggml_tensor* q_norm = nullptr;     // [Dh]     qwen3 only
  ggml_tensor* k_norm = nullptr;     // [Dh]     qwen3 only
  ggml_tensor* ffn_norm = nullptr;   // [D]
  ggml_tensor* ffn_gate = nullptr;   // [D, F]
  ggml_tensor* ffn_up = nullptr;     // [D, F]
  ggml_tensor* ffn_down = nullptr;   // [F, D]
};

struct ModelWeights {
  ggml_tensor* tok_embd = nullptr;     // [D, V]
  ggml_tensor* output_norm = nullptr;  // [D]
  ggml_tensor* output = nullptr;       // [D, V]; == tok_embd when the output is tied
  ggml_tensor* rope_freqs = nullptr;   // [Dh/2] or null (Llama 3.1 frequency factors)
  std::vector<LayerWeights> layers;
};

class Model {
 public:
  // Loads and validates a GGUF file: every required tensor present with the expected shape.
  // Throws Error naming the file and the tensor or key at fault.
  static std::unique_ptr<Model> Load(const std::string& path);
  ~Model();

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const std::string& path() const { return path_; }
  bool tied_output() const { return tied_output_; }
  size_t weight_bytes() const { return weight_bytes_; }
  uint64_t n_params() const { return n_params_; }
  // The dominant weight type, for display ("f16", "q8_0", ...).
  const char* weight_type_name() const { return ggml_type_name(main_type_); }

 private:
  Model() = default;
  std::string path_;
  ModelConfig config_;
  ModelWeights weights_;
  // One metadata context and one buffer per buffer type: plain CPU memory, or a CPU "extra"
  // type that repacks quantized matrices for faster matmuls (as libllama does).
  std::vector<ggml_context*> contexts_;
  std::vector<ggml_backend_buffer_t> buffers_;
  size_t weight_bytes_ = 0;
  uint64_t n_params_ = 0;
  ggml_type main_type_ = GGML_TYPE_F32;
  bool tied_output_ = false;
};

}  // namespace chunkllm
