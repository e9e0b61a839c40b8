#include "model/model_config.h"

#include <cmath>

#include "core/error.h"
#include "ggml.h"
#include "model/gguf_file.h"

namespace chunkllm {

Arch ArchFromName(const std::string& name, const std::string& context) {
  if (name == "llama") return Arch::kLlama;
  if (name == "qwen2") return Arch::kQwen2;
  if (name == "qwen3") return Arch::kQwen3;
  Fail(context, ": unsupported architecture '", name, "' (supported: llama, qwen2, qwen3)");
}

const char* ArchName(Arch arch) {
  switch (arch) {
    case Arch::kLlama: return "llama";
    case Arch::kQwen2: return "qwen2";
    case Arch::kQwen3: return "qwen3";
  }
  return "?";
}

ModelConfig ModelConfig::FromGguf(const GgufFile& f) {
  ModelConfig c;
  c.arch_name = f.GetString("general.architecture");
  c.arch = ArchFromName(c.arch_name, f.path());
  const std::string a = c.arch_name + ".";

  auto positive = [&](const std::string& key, int64_t v) {
    if (v <= 0 || v > (int64_t(1) << 30)) Fail(f.path(), ": metadata key '", key, "' has invalid value ", v);
    return int(v);
  };
  c.n_embd = positive(a + "embedding_length", f.GetInt(a + "embedding_length"));
  c.n_layer = positive(a + "block_count", f.GetInt(a + "block_count"));
  c.n_ff = positive(a + "feed_forward_length", f.GetInt(a + "feed_forward_length"));
  c.n_head = positive(a + "attention.head_count", f.GetInt(a + "attention.head_count"));
  c.n_head_kv = positive(a + "attention.head_count_kv",
                         f.FindInt(a + "attention.head_count_kv").value_or(c.n_head));
  c.n_ctx_train = positive(a + "context_length", f.FindInt(a + "context_length").value_or(4096));
  c.rms_eps = f.GetFloat(a + "attention.layer_norm_rms_epsilon");
  if (!(c.rms_eps > 0.0f) || !std::isfinite(c.rms_eps)) {
    Fail(f.path(), ": metadata key '", a, "attention.layer_norm_rms_epsilon' must be positive");
  }
  if (c.n_head % c.n_head_kv != 0) {
    Fail(f.path(), ": head_count ", c.n_head, " is not a multiple of head_count_kv ", c.n_head_kv);
  }
  if (c.n_embd % c.n_head != 0 && !f.Has(a + "attention.key_length")) {
    Fail(f.path(), ": embedding_length ", c.n_embd, " is not a multiple of head_count ", c.n_head);
  }
  c.head_dim = positive(a + "attention.key_length",
                        f.FindInt(a + "attention.key_length").value_or(c.n_embd / c.n_head));
  if (c.head_dim % 2 != 0) Fail(f.path(), ": the head dim ", c.head_dim, " must be even (RoPE rotates pairs)");
  if (int64_t(c.n_head) * c.head_dim > (int64_t(1) << 30)) {
    Fail(f.path(), ": attention.head_count ", c.n_head, " x attention.key_length ", c.head_dim, " is too large");
  }
  const int64_t v_len = f.FindInt(a + "attention.value_length").value_or(c.head_dim);
  if (v_len != c.head_dim) {
    Fail(f.path(), ": attention.value_length ", v_len, " differs from key_length ", c.head_dim,
         " (not supported)");
  }

  // Vocab size: the explicit key, else the tokenizer's token list.
  int64_t n_vocab = f.FindInt(a + "vocab_size").value_or(0);
  if (n_vocab == 0) n_vocab = int64_t(f.ArrayLength("tokenizer.ggml.tokens"));
  c.n_vocab = positive("tokenizer.ggml.tokens", n_vocab);

  // RoPE
  c.rope_type = c.arch == Arch::kLlama ? GGML_ROPE_TYPE_NORMAL : GGML_ROPE_TYPE_NEOX;
  c.n_rot = positive(a + "rope.dimension_count", f.FindInt(a + "rope.dimension_count").value_or(c.head_dim));
  if (c.n_rot != c.head_dim) {
    Fail(f.path(), ": rope.dimension_count ", c.n_rot, " differs from the head dim ", c.head_dim,
         " (partial rotary embedding is not supported for ", c.arch_name, ")");
  }
  // Every float of the file must be finite: an infinite or NaN RoPE base or factor turns
  // every attention score into NaN, silently.
  auto finite = [&](const std::string& key, float fallback) {
    const float v = f.FindFloat(key).value_or(fallback);
    if (!std::isfinite(v)) Fail(f.path(), ": metadata key '", key, "' must be a finite number, got ", v);
    return v;
  };
  c.rope_freq_base = finite(a + "rope.freq_base", 10000.0f);
  if (!(c.rope_freq_base > 0.0f)) Fail(f.path(), ": metadata key '", a, "rope.freq_base' must be positive, got ", c.rope_freq_base);

  const std::string scaling = f.FindString(a + "rope.scaling.type").value_or("linear");
  float factor = finite(a + "rope.scaling.factor", 0.0f);
  if (factor == 0.0f) factor = finite(a + "rope.scale_linear", 0.0f);
  if (factor < 0.0f) Fail(f.path(), ": rope.scaling.factor must be positive, got ", factor);
  c.rope_freq_scale = factor == 0.0f ? 1.0f : 1.0f / factor;
  const float rope_attn_factor = finite(a + "rope.scaling.attn_factor", 1.0f);
  if (scaling == "none") {
    c.rope_scaling = RopeScaling::kNone;
    c.rope_freq_scale = 1.0f;
  } else if (scaling == "linear") {
    c.rope_scaling = c.rope_freq_scale == 1.0f ? RopeScaling::kNone : RopeScaling::kLinear;
  } else if (scaling == "yarn") {
    c.rope_scaling = RopeScaling::kYarn;
  } else {
    Fail(f.path(), ": unsupported rope.scaling.type '", scaling, "' (supported: none, linear, yarn)");
  }
  c.yarn_orig_ctx = positive(a + "rope.scaling.original_context_length",
                             f.FindInt(a + "rope.scaling.original_context_length").value_or(c.n_ctx_train));
  c.yarn_beta_fast = finite(a + "rope.scaling.yarn_beta_fast", 32.0f);
  c.yarn_beta_slow = finite(a + "rope.scaling.yarn_beta_slow", 1.0f);
  c.yarn_ext_factor = c.rope_scaling == RopeScaling::kYarn ? finite(a + "rope.scaling.yarn_ext_factor", 1.0f) : 0.0f;
  c.yarn_attn_factor = 1.0f;
  if (c.yarn_ext_factor != 0.0f) {
    // ggml's rope multiplies by mscale = 1 + 0.1 ln(1/freq_scale) when ext_factor != 0; the
    // YaRN attention factor is that same mscale, so the two cancel (as in libllama).
    const float s = 1.0f / c.rope_freq_scale;
    const float mscale = s <= 1.0f ? 1.0f : 0.1f * std::log(s) + 1.0f;
    c.yarn_attn_factor = mscale / (1.0f + 0.1f * std::log(s));
  }
  c.yarn_attn_factor *= rope_attn_factor;

  c.has_qkv_bias = c.arch == Arch::kQwen2;
  c.has_qk_norm = c.arch == Arch::kQwen3;
  return c;
}

}  // namespace chunkllm
