// ModelConfig: the hyper-parameters of a Llama-family model, read from GGUF metadata.
//
// Dimension legend used across src/model:
//   T  tokens in a micro-batch      D   model width (n_embd)
//   L  layers                        H   query heads,  Hkv  KV heads (GQA: H % Hkv == 0)
//   Dh head dim (key_length)         F   FFN width (n_ff)   V  vocab size
#pragma once

#include <cstdint>
#include <string>

namespace chunkllm {

class GgufFile;

// The architectures we build graphs for. Mistral files use "llama".
enum class Arch { kLlama, kQwen2, kQwen3 };

enum class RopeScaling { kNone, kLinear, kYarn };

struct ModelConfig {
  Arch arch = Arch::kLlama;
  std::string arch_name;   // the GGUF general.architecture string
  int n_vocab = 0;         // V
  int n_embd = 0;          // D
  int n_layer = 0;         // L
  int n_head = 0;          // H
  int n_head_kv = 0;       // Hkv
  int head_dim = 0;        // Dh
  int n_ff = 0;            // F
  int n_ctx_train = 0;
  float rms_eps = 1e-5f;

  // RoPE. Llama rotates adjacent pairs (GGML_ROPE_TYPE_NORMAL); Qwen2/3 rotate the two
  // halves (GGML_ROPE_TYPE_NEOX). rope_freqs (Llama 3.1 frequency factors) is a tensor.
  int rope_type = 0;
  int n_rot = 0;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / scaling factor
  RopeScaling rope_scaling = RopeScaling::kNone;
  int yarn_orig_ctx = 0;
  float yarn_ext_factor = 0.0f;
  float yarn_attn_factor = 1.0f;
  float yarn_beta_fast = 32.0f;
  float yarn_beta_slow = 1.0f;

  // Architecture features, derived from arch.
  bool has_qkv_bias = false;  // qwen2
  bool has_qk_norm = false;   // qwen3

  int n_embd_q() const { return n_head * head_dim; }
  int n_embd_kv() const { return n_head_kv * head_dim; }

  // Reads and validates the config; throws Error naming the file and the key.
  static ModelConfig FromGguf(const GgufFile& file);
};

// "llama" -> kLlama etc.; throws Error listing the supported names.
Arch ArchFromName(const std::string& name, const std::string& context);
const char* ArchName(Arch arch);

}  // namespace chunkllm
