// Which attention kernels a session's graph uses (SessionParams::attn_kernel, `--attn-kernel`).
#pragma once

namespace chunkllm {

enum class AttentionKernel {
  kGgml,      // ggml_flash_attn_ext everywhere: libllama's arithmetic, bit for bit
  kChunkllm,  // ours: split-KV attention for micro-batches of up to 4 tokens (decode,
              // model/split_kv_attention.h), tiled attention for larger ones (prefill,
              // model/tiled_attention.h); ggml's where a head dim is not theirs
};

// "ggml" | "chunkllm" -> kernel; throws Error naming the flag otherwise.
AttentionKernel AttentionKernelFromName(const char* name);
const char* AttentionKernelName(AttentionKernel k);

}  // namespace chunkllm
