// ModelWriter: writes a Llama-family GGUF file that both our loader and libllama read:
// the tokenizer.* metadata of a vocab GGUF, the architecture's hyper-parameters, and tensors
// given as f32 values (converted or quantized to the requested type). Used by `mkmodel`
// (random weights) and by backbone pretraining (the trained weights).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ggml.h"
#include "model/model_config.h"

struct gguf_context;

namespace chunkllm {

struct ModelShape {
  Arch arch = Arch::kLlama;
  int n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0;
  int n_ctx_train = 4096;
  float rms_eps = 1e-6f;
  float rope_freq_base = 10000.0f;
  std::string rope_scaling = "none";  // none | linear | yarn
  float rope_scaling_factor = 1.0f;
};

// The bundled demo backbone's shape (~25M parameters with the Llama-2 SPM vocab): Llama,
// GQA 6:2, head dim 64 (so q8_0 KV blocks fit), tied output so that the 32000-wide output
// layer does not dominate pretraining compute. Used by `mkmodel --shape demo` and as the
// default of `pretrain`.
ModelShape DemoBackboneShape();

class ModelWriter {
 public:
  // Takes the tokenizer from vocab_path; n_vocab() tells how many tokens it has.
  ModelWriter(const ModelShape& shape, const std::string& vocab_path, const std::string& name);
  ~ModelWriter();
  ModelWriter(const ModelWriter&) = delete;
  ModelWriter& operator=(const ModelWriter&) = delete;

  int n_vocab() const { return n_vocab_; }
  // Adds a tensor of ggml shape ne (ne[0] fastest) from row-major f32 values.
  void AddTensor(const std::string& name, const std::vector<int64_t>& ne, ggml_type type, const float* values);
  // Adds a string metadata key (e.g. provenance).
  void SetString(const std::string& key, const std::string& value);
  // Writes the file atomically (temp name + rename).
  void Write(const std::string& path);

 private:
  gguf_context* gguf_ = nullptr;
  std::vector<ggml_context*> tensor_ctxs_;
  int n_vocab_ = 0;
};

}  // namespace chunkllm
