#include "model/tensor_names.h"

#include "core/error.h"

namespace chunkllm {

std::string TensorName(TensorRole role, int layer) {
  const char* suffix = nullptr;
  switch (role) {
    case TensorRole::kTokenEmbd: return "token_embd.weight";
    case TensorRole::kOutputNorm: return "output_norm.weight";
    case TensorRole::kOutput: return "output.weight";
    case TensorRole::kRopeFreqs: return "rope_freqs.weight";
    case TensorRole::kAttnNorm: suffix = "attn_norm.weight"; break;
    case TensorRole::kAttnQ: suffix = "attn_q.weight"; break;
    case TensorRole::kAttnK: suffix = "attn_k.weight"; break;
    case TensorRole::kAttnV: suffix = "attn_v.weight"; break;
    case TensorRole::kAttnOut: suffix = "attn_output.weight"; break;
    case TensorRole::kAttnQBias: suffix = "attn_q.bias"; break;
    case TensorRole::kAttnKBias: suffix = "attn_k.bias"; break;
    case TensorRole::kAttnVBias: suffix = "attn_v.bias"; break;
    case TensorRole::kAttnQNorm: suffix = "attn_q_norm.weight"; break;
    case TensorRole::kAttnKNorm: suffix = "attn_k_norm.weight"; break;
    case TensorRole::kFfnNorm: suffix = "ffn_norm.weight"; break;
    case TensorRole::kFfnGate: suffix = "ffn_gate.weight"; break;
    case TensorRole::kFfnUp: suffix = "ffn_up.weight"; break;
    case TensorRole::kFfnDown: suffix = "ffn_down.weight"; break;
  }
  if (layer < 0) Fail("internal: tensor role needs a layer index");
  return "blk." + std::to_string(layer) + "." + suffix;
}

}  // namespace chunkllm
