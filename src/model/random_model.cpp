#include "model/random_model.h"

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/file_util.h"
#include "gguf.h"
#include "model/gguf_file.h"
#include "model/tensor_names.h"

namespace chunkllm {

void ApplyShapePreset(const std::string& name, RandomModelSpec& s) {
  if (name == "qwen2.5-0.5b") {
    s.arch = Arch::kQwen2;
    s.n_embd = 896, s.n_layer = 24, s.n_head = 14, s.n_head_kv = 2, s.head_dim = 64, s.n_ff = 4864;
    s.rope_freq_base = 1000000.0f, s.tied_output = true, s.n_ctx_train = 32768;
  } else if (name == "demo") {
    // The bundled demo backbone's shape (~25M parameters with the Llama-2 SPM vocab): Llama,
    // GQA 6:2, head dim 64 (so q8_0 KV blocks fit), tied output to keep the 32000-wide output
    // layer from dominating pretraining compute.
    s.arch = Arch::kLlama;
    s.n_embd = 384, s.n_layer = 8, s.n_head = 6, s.n_head_kv = 2, s.head_dim = 64, s.n_ff = 1024;
    s.rope_freq_base = 10000.0f, s.tied_output = true, s.n_ctx_train = 8192;
  } else {
    Fail("unknown shape preset '", name, "' (known: qwen2.5-0.5b, demo)");
  }
}

namespace {

struct Writer {
  const RandomModelSpec& spec;
  ggml_context* ctx;
  gguf_context* gguf;
  std::mt19937_64 rng;

  // A tensor of `type` filled from N(mean, std) (converted/quantized as the type requires).
  void Add(const std::string& name, std::vector<int64_t> ne, ggml_type type, float mean, float std) {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    std::vector<float> values(static_cast<size_t>(n));
    std::normal_distribution<float> dist(mean, std);
    for (float& v : values) v = dist(rng);
    ggml_tensor* t = ggml_new_tensor(ctx, type, int(ne.size()), ne.data());
    ggml_set_name(t, name.c_str());
    if (type == GGML_TYPE_F32) {
      std::copy(values.begin(), values.end(), static_cast<float*>(t->data));
    } else if (type == GGML_TYPE_F16) {
      ggml_fp32_to_fp16_row(values.data(), static_cast<ggml_fp16_t*>(t->data), n);
    } else if (type == GGML_TYPE_BF16) {
      ggml_fp32_to_bf16_row(values.data(), static_cast<ggml_bf16_t*>(t->data), n);
    } else {
      ggml_quantize_chunk(type, values.data(), t->data, 0, n / ne[0], ne[0], nullptr);
    }
    gguf_add_tensor(gguf, t);
  }
};

void CheckSpec(const RandomModelSpec& s, int head_dim, int n_ff) {
  auto positive = [](const char* flag, int v) {
    if (v <= 0) Fail("--", flag, " must be positive, got ", v);
  };
  positive("n-embd", s.n_embd), positive("n-layer", s.n_layer), positive("n-head", s.n_head);
  positive("n-head-kv", s.n_head_kv), positive("head-dim", head_dim), positive("n-ff", n_ff);
  if (s.n_head % s.n_head_kv != 0) Fail("--n-head ", s.n_head, " must be a multiple of --n-head-kv ", s.n_head_kv);
  if (head_dim % 2 != 0) Fail("the head dim must be even for RoPE, got ", head_dim);
  if (!(s.init_std > 0.0f)) Fail("--init-std must be positive");
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
  const int head_dim = s.head_dim > 0 ? s.head_dim : (s.n_head > 0 ? s.n_embd / s.n_head : 0);
  const int n_ff = s.n_ff > 0 ? s.n_ff : ((s.n_embd * 8 / 3 + 63) / 64) * 64;
  CheckSpec(s, head_dim, n_ff);

  GgufFile vocab = GgufFile::Open(s.vocab_path);
  const size_t n_vocab = vocab.ArrayLength("tokenizer.ggml.tokens");
  if (n_vocab == 0) Fail(s.vocab_path, ": no tokenizer.ggml.tokens array (not a vocab GGUF)");

  gguf_context* gguf = gguf_init_empty();
  // Take every tokenizer.* key from the vocab file, nothing else.
  {
    gguf_context* all = gguf_init_empty();
    gguf_set_kv(all, vocab.gguf());
    for (int64_t i = gguf_get_n_kv(all) - 1; i >= 0; --i) {
      const std::string key = gguf_get_key(all, i);
      if (key.rfind("tokenizer.", 0) != 0) gguf_remove_key(all, key.c_str());
    }
    gguf_set_kv(gguf, all);
    gguf_free(all);
  }
  const std::string a = ArchName(s.arch);
  gguf_set_val_str(gguf, "general.architecture", a.c_str());
  gguf_set_val_str(gguf, "general.name", ("chunkllm random " + a).c_str());
  gguf_set_val_u32(gguf, "general.file_type", 1);
  gguf_set_val_u32(gguf, (a + ".context_length").c_str(), uint32_t(s.n_ctx_train));
  gguf_set_val_u32(gguf, (a + ".embedding_length").c_str(), uint32_t(s.n_embd));
  gguf_set_val_u32(gguf, (a + ".block_count").c_str(), uint32_t(s.n_layer));
  gguf_set_val_u32(gguf, (a + ".feed_forward_length").c_str(), uint32_t(n_ff));
  gguf_set_val_u32(gguf, (a + ".attention.head_count").c_str(), uint32_t(s.n_head));
  gguf_set_val_u32(gguf, (a + ".attention.head_count_kv").c_str(), uint32_t(s.n_head_kv));
  gguf_set_val_u32(gguf, (a + ".attention.key_length").c_str(), uint32_t(head_dim));
  gguf_set_val_u32(gguf, (a + ".attention.value_length").c_str(), uint32_t(head_dim));
  gguf_set_val_f32(gguf, (a + ".attention.layer_norm_rms_epsilon").c_str(), 1e-6f);
  gguf_set_val_u32(gguf, (a + ".rope.dimension_count").c_str(), uint32_t(head_dim));
  gguf_set_val_f32(gguf, (a + ".rope.freq_base").c_str(), s.rope_freq_base);
  gguf_set_val_u32(gguf, (a + ".vocab_size").c_str(), uint32_t(n_vocab));
  if (s.rope_scaling != "none") {
    gguf_set_val_str(gguf, (a + ".rope.scaling.type").c_str(), s.rope_scaling.c_str());
    gguf_set_val_f32(gguf, (a + ".rope.scaling.factor").c_str(), s.rope_scaling_factor);
    gguf_set_val_u32(gguf, (a + ".rope.scaling.original_context_length").c_str(), uint32_t(s.n_ctx_train));
  }

  const int64_t D = s.n_embd, V = int64_t(n_vocab), Q = int64_t(s.n_head) * head_dim;
  const int64_t KV = int64_t(s.n_head_kv) * head_dim, F = n_ff;
  const ggml_type wt = s.weight_type;
  size_t bytes = 0;
  auto count = [&](ggml_type t, int64_t n0, int64_t n1) { bytes += ggml_row_size(t, n0) * n1 + 1024; };
  count(wt, D, V), count(wt, D, V), count(GGML_TYPE_F32, D, 1);
  for (int il = 0; il < s.n_layer; ++il) {
    count(wt, D, Q), count(wt, D, KV), count(wt, D, KV), count(wt, Q, D);
    count(wt, D, F), count(wt, D, F), count(wt, F, D);
    count(GGML_TYPE_F32, D, 8), count(GGML_TYPE_F32, Q + 2 * KV, 1), count(GGML_TYPE_F32, head_dim, 2);
  }
  ggml_init_params ip = {bytes + ggml_tensor_overhead() * size_t(16 * s.n_layer + 16), nullptr, false};
  ggml_context* ctx = ggml_init(ip);
  if (!ctx) Fail("out of memory building a random model");

  // Norm weights near 1 (not exactly 1, so a graph that forgets them is caught).
  Writer w{s, ctx, gguf, std::mt19937_64(s.seed)};
  const float sd = s.init_std;
  w.Add(TensorName(TensorRole::kTokenEmbd), {D, V}, wt, 0.0f, sd);
  w.Add(TensorName(TensorRole::kOutputNorm), {D}, GGML_TYPE_F32, 1.0f, 0.1f);
  if (!s.tied_output) w.Add(TensorName(TensorRole::kOutput), {D, V}, wt, 0.0f, sd);
  for (int il = 0; il < s.n_layer; ++il) {
    w.Add(TensorName(TensorRole::kAttnNorm, il), {D}, GGML_TYPE_F32, 1.0f, 0.1f);
    w.Add(TensorName(TensorRole::kAttnQ, il), {D, Q}, wt, 0.0f, sd);
    w.Add(TensorName(TensorRole::kAttnK, il), {D, KV}, wt, 0.0f, sd);
    w.Add(TensorName(TensorRole::kAttnV, il), {D, KV}, wt, 0.0f, sd);
    w.Add(TensorName(TensorRole::kAttnOut, il), {Q, D}, wt, 0.0f, sd);
    if (s.arch == Arch::kQwen2) {
      w.Add(TensorName(TensorRole::kAttnQBias, il), {Q}, GGML_TYPE_F32, 0.0f, sd * 5);
      w.Add(TensorName(TensorRole::kAttnKBias, il), {KV}, GGML_TYPE_F32, 0.0f, sd * 5);
      w.Add(TensorName(TensorRole::kAttnVBias, il), {KV}, GGML_TYPE_F32, 0.0f, sd * 5);
    }
    if (s.arch == Arch::kQwen3) {
      w.Add(TensorName(TensorRole::kAttnQNorm, il), {head_dim}, GGML_TYPE_F32, 1.0f, 0.1f);
      w.Add(TensorName(TensorRole::kAttnKNorm, il), {head_dim}, GGML_TYPE_F32, 1.0f, 0.1f);
    }
    w.Add(TensorName(TensorRole::kFfnNorm, il), {D}, GGML_TYPE_F32, 1.0f, 0.1f);
    w.Add(TensorName(TensorRole::kFfnGate, il), {D, F}, wt, 0.0f, sd);
    w.Add(TensorName(TensorRole::kFfnUp, il), {D, F}, wt, 0.0f, sd);
    w.Add(TensorName(TensorRole::kFfnDown, il), {F, D}, wt, 0.0f, sd);
  }

  try {
    WriteFileAtomically(out_path, [&](const std::string& tmp) {
      if (!gguf_write_to_file(gguf, tmp.c_str(), false)) Fail(out_path, ": cannot write the GGUF file");
    });
  } catch (...) {
    gguf_free(gguf);
    ggml_free(ctx);
    throw;
  }
  gguf_free(gguf);
  ggml_free(ctx);
}

}  // namespace chunkllm
