// What the attention custom ops (split-KV and tiled) share: the checks of their operands, and
// the softmax scale carried in their userdata pointer's bits (ggml's custom ops have no
// parameter block of their own, and a pointer would have to outlive the graph).
#pragma once

#include <bit>
#include <cstdint>

#include "ggml.h"

namespace chunkllm {

inline void* ScaleAsUserdata(float scale) { return reinterpret_cast<void*>(uintptr_t(std::bit_cast<uint32_t>(scale))); }
inline float ScaleFromUserdata(void* p) { return std::bit_cast<float>(uint32_t(reinterpret_cast<uintptr_t>(p))); }

// Throws Error, its message starting with `op`, unless q (Dh, H, T), the cache views k and v
// (Dh, n_kv, Hkv) and the mask (n_kv, >= T, may be null) fit each other: a head dim the kernels
// take (SplitKvSupports), H a multiple of Hkv, caches ggml can convert to f32, an f16 mask.
// The layout each op needs of q is its own check.
void CheckAttentionOperands(const char* op, const ggml_tensor* q, const ggml_tensor* k, const ggml_tensor* v,
                            const ggml_tensor* mask);

}  // namespace chunkllm
