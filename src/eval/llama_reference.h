// LlamaReference: the same GGUF file run through libllama, the independent reference for our
// logits (tests) and our speed (bench --ref). Same threads, same KV type, flash attention as
// libllama chooses by default.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ggml.h"

struct llama_context;
struct llama_model;
struct ggml_threadpool;

namespace chunkllm {

struct ReferenceParams {
  int n_ctx = 4096;
  int n_batch = 2048;
  int n_ubatch = 512;
  int n_threads = 2;
  ggml_type kv_type = GGML_TYPE_F16;
};

class LlamaReference {
 public:
  static std::unique_ptr<LlamaReference> Load(const std::string& path, const ReferenceParams& params);
  ~LlamaReference();

  // Appends tokens; logits of the last token in last_logits(), of all tokens in all_logits.
  void Prefill(const std::vector<int32_t>& tokens, std::vector<float>* all_logits = nullptr);
  const std::vector<float>& Decode(int32_t token);
  const std::vector<float>& last_logits() const { return logits_; }
  void Clear();
  // Forgets positions >= n.
  void Truncate(int n);
  int n_vocab() const { return n_vocab_; }

 private:
  LlamaReference() = default;
  void Run(const int32_t* tokens, int n, bool all_outputs, float* out);

  ReferenceParams params_;
  llama_model* model_ = nullptr;
  llama_context* ctx_ = nullptr;
  ggml_threadpool* threadpool_ = nullptr;
  int n_vocab_ = 0;
  int n_past_ = 0;
  std::vector<float> logits_;
};

}  // namespace chunkllm
