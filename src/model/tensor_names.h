// The one place that maps model roles to GGUF tensor names ("blk.3.attn_q.weight").
// Graph code asks for roles; nothing else spells a tensor name.
#pragma once

#include <string>

namespace chunkllm {

enum class TensorRole {
  // global
  kTokenEmbd, kOutputNorm, kOutput, kRopeFreqs,
  // per layer
  kAttnNorm, kAttnQ, kAttnK, kAttnV, kAttnOut,
  kAttnQBias, kAttnKBias, kAttnVBias,
  kAttnQNorm, kAttnKNorm,
  kFfnNorm, kFfnGate, kFfnUp, kFfnDown,
};

// layer is ignored for global roles and required (>= 0) for per-layer roles.
std::string TensorName(TensorRole role, int layer = -1);

}  // namespace chunkllm
