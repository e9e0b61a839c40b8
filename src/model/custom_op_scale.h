// The softmax scale of the attention custom ops, carried in their userdata pointer's bits: ggml's
// custom ops have no parameter block of their own, and a pointer would have to outlive the graph.
#pragma once

#include <bit>
#include <cstdint>

namespace chunkllm {

inline void* ScaleAsUserdata(float scale) { return reinterpret_cast<void*>(uintptr_t(std::bit_cast<uint32_t>(scale))); }
inline float ScaleFromUserdata(void* p) { return std::bit_cast<float>(uint32_t(reinterpret_cast<uintptr_t>(p))); }

}  // namespace chunkllm
