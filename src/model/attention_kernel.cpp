#include "model/attention_kernel.h"

#include <string>

#include "core/error.h"

namespace chunkllm {

AttentionKernel AttentionKernelFromName(const char* name) {
  const std::string s = name;
  if (s == "ggml") return AttentionKernel::kGgml;
  if (s == "chunkllm") return AttentionKernel::kChunkllm;
  Fail("--attn-kernel: unknown kernel '", s, "' (chunkllm | ggml)");
}

const char* AttentionKernelName(AttentionKernel k) { return k == AttentionKernel::kGgml ? "ggml" : "chunkllm"; }

}  // namespace chunkllm
