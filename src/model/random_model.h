// Random-weight models of each supported architecture, with a real tokenizer taken from a
// vocab-only GGUF (llama.cpp's models/ggml-vocab-*.gguf). Tests make their fixtures with it;
// `chunkllm mkmodel` exposes it.
#pragma once

#include <cstdint>
#include <string>

#include "ggml.h"
#include "model/model_config.h"

namespace chunkllm {

struct RandomModelSpec {
  Arch arch = Arch::kLlama;
  std::string vocab_path;      // GGUF with tokenizer.* metadata
  int n_embd = 256;            // D
  int n_layer = 4;             // L
  int n_head = 8;              // H
  int n_head_kv = 2;           // Hkv
  int head_dim = 0;            // Dh; 0 = D / H
  int n_ff = 0;                // F; 0 = 8/3 D rounded up to a multiple of 64
  int n_ctx_train = 8192;
  float rope_freq_base = 10000.0f;
  std::string rope_scaling = "none";  // none | linear | yarn
  float rope_scaling_factor = 1.0f;
  bool tied_output = false;
  ggml_type weight_type = GGML_TYPE_F16;  // matrices; norms and biases stay f32
  float init_std = 0.02f;      // std of the matrices' normal init
  uint64_t seed = 42;
};

// Named shapes: "qwen2.5-0.5b" (D 896, L 24, H 14, Hkv 2, F 4864, tied, base 1e6) and
// "demo" (the bundled backbone's shape). Throws Error for an unknown name.
void ApplyShapePreset(const std::string& name, RandomModelSpec& spec);

// Writes the model atomically to out_path. Throws Error on bad specs or I/O failure.
void WriteRandomModel(const RandomModelSpec& spec, const std::string& out_path);

}  // namespace chunkllm
