// Which attention kernels a session's graph uses (SessionParams::attn_kernel, `--attn-kernel`).
#pragma once

#include <string>
#include <vector>

#include "ggml.h"

namespace chunkllm {

enum class AttentionKernel {
  kGgml,      // ggml_flash_attn_ext everywhere: libllama's arithmetic, bit for bit
  kChunkllm,  // ours: split-KV attention for micro-batches of up to 4 tokens (decode,
              // model/split_kv_attention.h), tiled attention for larger ones (prefill,
              // model/tiled_attention.h); ggml's where a head dim is not theirs
};

// "ggml" | "chunkllm" -> kernel; throws Error naming the flag otherwise.
AttentionKernel AttentionKernelFromName(const char* name);
// Each name of a list (`--attn-kernel a,b`) as above.
std::vector<AttentionKernel> AttentionKernelsFromNames(const std::vector<std::string>& names);
const char* AttentionKernelName(AttentionKernel k);
// A list of kernels to compare (`--attn-kernel a,b`): throws Error unless it names at least one
// kernel and none twice.
void CheckKernelList(const std::vector<AttentionKernel>& kernels);

// Attention of q (Dh, H, T) f32 over the cache views k and v (Dh, n_kv, Hkv) under the mask
// (n_kv, T) f16 (may be null), scores scaled by `scale`, with `kernel`'s op for this batch size
// and head dim; returns (Dh, H, T) f32. The one place a graph picks its attention op.
ggml_tensor* AttentionWithKernel(ggml_context* ctx, AttentionKernel kernel, ggml_tensor* q, ggml_tensor* k,
                                 ggml_tensor* v, ggml_tensor* mask, float scale);

}  // namespace chunkllm
