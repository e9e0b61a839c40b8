#include "model/attention_kernel.h"

#include <string>

#include "core/error.h"
#include "model/split_kv_attention.h"
#include "model/tiled_attention.h"

namespace chunkllm {

AttentionKernel AttentionKernelFromName(const char* name) {
  const std::string s = name;
  if (s == "ggml") return AttentionKernel::kGgml;
  if (s == "chunkllm") return AttentionKernel::kChunkllm;
  Fail("--attn-kernel: unknown kernel '", s, "' (chunkllm | ggml)");
}

std::vector<AttentionKernel> AttentionKernelsFromNames(const std::vector<std::string>& names) {
  std::vector<AttentionKernel> kernels;
  for (const std::string& n : names) kernels.push_back(AttentionKernelFromName(n.c_str()));
  return kernels;
}

const char* AttentionKernelName(AttentionKernel k) { return k == AttentionKernel::kGgml ? "ggml" : "chunkllm"; }

void CheckKernelList(const std::vector<AttentionKernel>& kernels) {
  if (kernels.empty()) Fail("--attn-kernel needs at least one kernel");
  for (size_t i = 0; i < kernels.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (kernels[i] == kernels[j]) Fail("--attn-kernel names ", AttentionKernelName(kernels[i]), " twice");
}

ggml_tensor* AttentionWithKernel(ggml_context* ctx, AttentionKernel kernel, ggml_tensor* q, ggml_tensor* k,
                                 ggml_tensor* v, ggml_tensor* mask, float scale) {
  if (kernel == AttentionKernel::kChunkllm && SplitKvSupports(int(q->ne[0]))) {
    return q->ne[2] <= kSplitKvMaxTokens ? SplitKvAttention(ctx, q, k, v, mask, scale)
                                         : TiledAttention(ctx, q, k, v, mask, scale);
  }
  // ggml's flash attention reads f16 caches (f32 ones cast) and a query laid out (Dh, T, H).
  if (k->type == GGML_TYPE_F32) k = ggml_cast(ctx, k, GGML_TYPE_F16);
  if (v->type == GGML_TYPE_F32) v = ggml_cast(ctx, v, GGML_TYPE_F16);
  ggml_tensor* out = ggml_flash_attn_ext(ctx, ggml_permute(ctx, q, 0, 2, 1, 3), k, v, mask, scale, 0.0f, 0.0f);
  ggml_prec_set_acc(out, GGML_PREC_F32);
  return out;
}

}  // namespace chunkllm
