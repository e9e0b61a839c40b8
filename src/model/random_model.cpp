#include "model/random_model.h"

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/memory_limit.h"
#include "model/model_writer.h"
#include "model/tensor_names.h"

namespace chunkllm {

void ApplyShapePreset(const std::string& name, RandomModelSpec& s) {
  if (name == "qwen2.5-0.5b") {
    s.arch = Arch::kQwen2;
    s.n_embd = 896, s.n_layer = 24, s.n_head = 14, s.n_head_kv = 2, s.head_dim = 64, s.n_ff = 4864;
    s.rope_freq_base = 1000000.0f, s.tied_output = true, s.n_ctx_train = 32768;
  } else if (name == "demo") {
    const ModelShape d = DemoBackboneShape();
    s.arch = d.arch;
    s.n_embd = d.n_embd, s.n_layer = d.n_layer, s.n_head = d.n_head, s.n_head_kv = d.n_head_kv;
    s.head_dim = d.head_dim, s.n_ff = d.n_ff, s.n_ctx_train = d.n_ctx_train;
    s.rope_freq_base = d.rope_freq_base, s.tied_output = true;
  } else {
    Fail("unknown shape preset '", name, "' (known: qwen2.5-0.5b, demo)");
  }
}

namespace {

// The loader's bound on every hyper-parameter (model_config.cpp): mkmodel never writes a file
// that the loader would refuse.
constexpr int64_t kMaxDim = int64_t(1) << 30;

void CheckSpec(const RandomModelSpec& s, int64_t head_dim, int64_t n_ff) {
  auto positive = [](const char* flag, int64_t v) {
    if (v <= 0 || v > kMaxDim) Fail("--", flag, " must be in [1, 2^30], got ", v);
  };
  positive("ctx-train", s.n_ctx_train);
  if (!std::isfinite(s.rope_freq_base) || !(s.rope_freq_base > 0.0f)) {
    Fail("--rope-base must be a positive finite number, got ", s.rope_freq_base);
  }
  if (!std::isfinite(s.rope_scaling_factor) || !(s.rope_scaling_factor > 0.0f)) {
    Fail("--rope-scale must be a positive finite number, got ", s.rope_scaling_factor);
  }
  positive("n-embd", s.n_embd), positive("n-layer", s.n_layer), positive("n-head", s.n_head);
  positive("n-head-kv", s.n_head_kv), positive("head-dim", head_dim), positive(s.n_ff > 0 ? "n-ff" : "n-ff (default: 8/3 of --n-embd)", n_ff);
  if (int64_t(s.n_head) * head_dim > kMaxDim) Fail("--n-head x the head dim is too large: ", int64_t(s.n_head) * head_dim);
  if (s.n_head % s.n_head_kv != 0) Fail("--n-head ", s.n_head, " must be a multiple of --n-head-kv ", s.n_head_kv);
  if (head_dim % 2 != 0) Fail("the head dim must be even for RoPE, got ", head_dim);
  if (!(s.init_std > 0.0f) || !std::isfinite(s.init_std)) Fail("--init-std must be a positive finite number");
  const int64_t blck = ggml_blck_size(s.weight_type);
  const bool plain = s.weight_type == GGML_TYPE_F32 || s.weight_type == GGML_TYPE_F16 ||
                     s.weight_type == GGML_TYPE_BF16;
  if (!plain && (!ggml_is_quantized(s.weight_type) || ggml_quantize_requires_imatrix(s.weight_type))) {
    Fail("weight type ", ggml_type_name(s.weight_type), " cannot be written without an importance matrix");
  }
  for (int64_t d : {int64_t(s.n_embd), int64_t(n_ff), int64_t(s.n_head * head_dim)}) {
    if (d % blck != 0) {
      Fail("weight type ", ggml_type_name(s.weight_type), " needs rows that are a multiple of ", blck,
           " values; this shape has a row of ", d);
    }
  }
}

}  // namespace

void WriteRandomModel(const RandomModelSpec& s, const std::string& out_path) {
  // In 64 bits: 8/3 of a large --n-embd overflows an int.
  const int64_t head_dim = s.head_dim > 0 ? s.head_dim : (s.n_head > 0 ? s.n_embd / s.n_head : 0);
  const int64_t n_ff = s.n_ff > 0 ? s.n_ff : ((int64_t(s.n_embd) * 8 / 3 + 63) / 64) * 64;
  CheckSpec(s, head_dim, n_ff);

  ModelShape shape;
  shape.arch = s.arch;
  shape.n_embd = s.n_embd, shape.n_layer = s.n_layer, shape.n_head = s.n_head, shape.n_head_kv = s.n_head_kv;
  shape.head_dim = int(head_dim), shape.n_ff = int(n_ff), shape.n_ctx_train = s.n_ctx_train;
  shape.rope_freq_base = s.rope_freq_base;
  shape.rope_scaling = s.rope_scaling, shape.rope_scaling_factor = s.rope_scaling_factor;
  ModelWriter w(shape, s.vocab_path, std::string("chunkllm random ") + ArchName(s.arch));

  // The writer holds every tensor until it writes the file: refuse a shape that cannot fit
  // (--n-layer 1000000) before making any of it.
  {
    using Big = long double;  // products of several 2^30 dimensions
    const Big D = s.n_embd, Q = Big(s.n_head) * Big(head_dim), KV = Big(s.n_head_kv) * Big(head_dim), F = Big(n_ff);
    const Big bytes_per_value = Big(ggml_type_size(s.weight_type)) / Big(ggml_blck_size(s.weight_type));
    const Big layer = bytes_per_value * (D * Q + 2 * D * KV + Q * D + 3 * D * F) + 4 * (2 * D + Q + KV);
    const Big embd = bytes_per_value * D * Big(w.n_vocab()) * (s.tied_output ? 1 : 2);
    const Big total = layer * Big(s.n_layer) + embd;
    CheckFitsInMemory(total > 1.8e19L ? UINT64_MAX : uint64_t(total),
                      Str("a random model of ", s.n_layer, " layers of width ", s.n_embd, " (", ggml_type_name(s.weight_type), ")"));
  }
  std::mt19937_64 rng(s.seed);
  std::vector<float> values;
  // A tensor filled from N(mean, std). Norm weights are drawn near 1 (not exactly 1, so a
  // graph that forgets them is caught); norms and biases stay f32.
  auto add = [&](TensorRole role, int layer, std::vector<int64_t> ne, bool matrix, float mean, float std) {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    values.resize(static_cast<size_t>(n));
    std::normal_distribution<float> dist(mean, std);
    for (float& v : values) v = dist(rng);
    w.AddTensor(TensorName(role, layer), ne, matrix ? s.weight_type : GGML_TYPE_F32, values.data());
  };
  const int64_t D = s.n_embd, V = w.n_vocab(), Q = int64_t(s.n_head) * head_dim;
  const int64_t KV = int64_t(s.n_head_kv) * head_dim, F = n_ff;
  const float sd = s.init_std;
  add(TensorRole::kTokenEmbd, -1, {D, V}, true, 0.0f, sd);
  add(TensorRole::kOutputNorm, -1, {D}, false, 1.0f, 0.1f);
  if (!s.tied_output) add(TensorRole::kOutput, -1, {D, V}, true, 0.0f, sd);
  for (int il = 0; il < s.n_layer; ++il) {
    add(TensorRole::kAttnNorm, il, {D}, false, 1.0f, 0.1f);
    add(TensorRole::kAttnQ, il, {D, Q}, true, 0.0f, sd);
    add(TensorRole::kAttnK, il, {D, KV}, true, 0.0f, sd);
    add(TensorRole::kAttnV, il, {D, KV}, true, 0.0f, sd);
    add(TensorRole::kAttnOut, il, {Q, D}, true, 0.0f, sd);
    if (s.arch == Arch::kQwen2) {
      add(TensorRole::kAttnQBias, il, {Q}, false, 0.0f, sd * 5);
      add(TensorRole::kAttnKBias, il, {KV}, false, 0.0f, sd * 5);
      add(TensorRole::kAttnVBias, il, {KV}, false, 0.0f, sd * 5);
    }
    if (s.arch == Arch::kQwen3) {
      add(TensorRole::kAttnQNorm, il, {head_dim}, false, 1.0f, 0.1f);
      add(TensorRole::kAttnKNorm, il, {head_dim}, false, 1.0f, 0.1f);
    }
    add(TensorRole::kFfnNorm, il, {D}, false, 1.0f, 0.1f);
    add(TensorRole::kFfnGate, il, {D, F}, true, 0.0f, sd);
    add(TensorRole::kFfnUp, il, {D, F}, true, 0.0f, sd);
    add(TensorRole::kFfnDown, il, {F, D}, true, 0.0f, sd);
  }
  w.Write(out_path);
}

}  // namespace chunkllm
