// TorchLlama: the Llama architecture in libtorch, for pretraining the demo backbone.
//
// It computes exactly what src/model/forward_graph.cpp computes for arch "llama" (RMSNorm,
// RoPE on adjacent pairs as ggml's GGML_ROPE_TYPE_NORMAL, GQA, SwiGLU, tied output), so the
// exported GGUF gives the same logits in our engine and in libllama (tested). Parameters are
// f32; matmuls run in bf16 under autocast (AVX-512 BF16: ~2.4x f32 on this machine).
// Shapes: B batch, T tokens, D width, H heads, Hkv KV heads, Dh head dim, F FFN width, V vocab.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "model/model_writer.h"
#include "model/tensor_names.h"

namespace chunkllm {

struct TorchLlamaConfig {
  ModelShape shape = DemoBackboneShape();  // arch llama, no RoPE scaling
  int n_vocab = 32000;                     // V: set from the tokenizer
  // Causal attention is computed in query blocks of at most this many tokens, each against the
  // keys up to its end only (half the T^2 work of the full square), with the backward pass
  // recomputing each block's probabilities (src/pretrain/blocked_attention.h).
  int attn_block = 512;
  // ... and of at most this many score elements (B x H x rows x keys), so that a block's f32
  // scores stay in the last-level cache: with (2, 6, 512, 2048) blocks (50 MB) training at T
  // 2048 ran at ~400 tokens/s against ~1,900 at T 1024 (25 MB blocks), on 2 EPYC cores.
  int64_t attn_block_elements = int64_t(6) << 20;
  // The loss runs through the output matrix in chunks of this many token rows, recomputing
  // their logits in the backward pass instead of keeping all (B x T, V) of them
  // (src/pretrain/chunked_cross_entropy.h).
  int64_t loss_rows = 1024;
};

class TorchBlockImpl : public torch::nn::Module {
 public:
  explicit TorchBlockImpl(const TorchLlamaConfig& c);
  // x (B, T, D); cos, sin (T, Dh/2); causal attention. Returns (B, T, D).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

  torch::nn::Linear wq{nullptr}, wk{nullptr}, wv{nullptr}, wo{nullptr};
  torch::nn::Linear ffn_gate{nullptr}, ffn_up{nullptr}, ffn_down{nullptr};
  torch::Tensor attn_norm, ffn_norm;  // (D)

 private:
  TorchLlamaConfig c_;
};
TORCH_MODULE(TorchBlock);

class TorchLlamaImpl : public torch::nn::Module {
 public:
  TorchLlamaImpl(const TorchLlamaConfig& c, uint64_t seed);
  // tokens (B, T) int64 -> logits (B, T, V) in the autocast dtype.
  torch::Tensor forward(const torch::Tensor& tokens);
  // tokens (B, T) int64 -> the final-normed hidden states (B, T, D) that the output reads.
  torch::Tensor HiddenStates(const torch::Tensor& tokens);
  // Mean next-token cross-entropy in f32: inputs, targets (B, T) int64. With weights (B, T)
  // f32, the weighted mean sum(w * ce) / sum(w).
  torch::Tensor Loss(const torch::Tensor& inputs, const torch::Tensor& targets, const torch::Tensor& weights = {});
  // Writes the model as a "llama" GGUF with the tokenizer of vocab_path (matrices in f16).
  void ExportGguf(const std::string& path, const std::string& vocab_path, const std::string& name) const;
  // Overwrites every parameter with the tensors of a llama GGUF of the same shape (any ggml
  // type, dequantized to f32): a warm start from a shipped model. Throws Error naming the file
  // and the tensor when a shape or a tensor does not match.
  void ImportGguf(const std::string& path);

  const TorchLlamaConfig& config() const { return c_; }
  uint64_t n_params() const;
  // Calls f(role, layer, tensor) for every parameter as the GGUF names it (layer -1: global);
  // the one map that export and import share. Tensor handles: in-place ops write the weights.
  void ForEachGgufTensor(const std::function<void(TensorRole, int, const torch::Tensor&)>& f) const;

  torch::Tensor tok_embd;     // (V, D), tied with the output
  torch::Tensor output_norm;  // (D)
  std::vector<TorchBlock> blocks;

 private:
  TorchLlamaConfig c_;
};
TORCH_MODULE(TorchLlama);

// The first n of tokens as a (1, n) int64 row: a model input.
torch::Tensor TokenRow(const std::vector<int32_t>& tokens, int64_t n);

// Runs f with bf16 autocast on the CPU enabled (nesting-safe), as torch.autocast does.
template <typename F>
auto WithBf16Autocast(bool enabled, F&& f) -> decltype(f());

}  // namespace chunkllm

#include "pretrain/torch_autocast.inl"
