// Our logits against libllama's on the same random-weight file, for each architecture:
// prefill (every position), 40 teacher-forced decode steps, and a 64-token greedy continuation.
//
// Tolerance, derived from the arithmetic: both engines round the same quantities, so they can
// differ only where the order of operations differs. The largest rounding in the forward pass
// is the unit roundoff u of the activations' dot-product type (f16 KV cache and f16 weights:
// u = 2^-11; q8_0/q8_K activations of quantized weights: u = 2^-8) applied at each matmul
// input (4 per layer: QKV, Wo, gate/up, down) and at the KV store, plus the embedding and the
// output matmul. Accumulated linearly that is a relative error of at most (5L + 2) u, so we
// require NMSE <= ((5L + 2) u)^2 and max|diff| <= (5L + 2) u * max|logit|. A wrong graph
// (RoPE pairing, a missing norm or bias, GQA mapping) gives relative errors of order 1.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "eval/llama_reference.h"
#include "model/session.h"
#include "test_util.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

struct Case {
  std::string name;
  Arch arch;
  std::string vocab;
  ggml_type type = GGML_TYPE_F16;
  bool tied = false;
  std::string rope_scaling = "none";
  int n_ff = 0;  // 0: the default; k-quants need multiples of 256
  ggml_type kv = GGML_TYPE_F16;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

struct Diff {
  double max_abs = 0, nmse = 0, ref_max = 0;
};

Diff Compare(const float* ours, const float* ref, size_t n) {
  Diff d;
  double se = 0, ss = 0;
  for (size_t i = 0; i < n; ++i) {
    const double e = double(ours[i]) - double(ref[i]);
    d.max_abs = std::max(d.max_abs, std::fabs(e));
    d.ref_max = std::max(d.ref_max, std::fabs(double(ref[i])));
    se += e * e;
    ss += double(ref[i]) * double(ref[i]);
  }
  d.nmse = se / std::max(ss, 1e-30);
  return d;
}

// The unit roundoff of the coarsest rounding in the pass: the weights' activation type and the
// KV cache type (f16 and f32 KV are both read as f16 by flash attention).
double UnitRoundoff(ggml_type weight_type, ggml_type kv_type) {
  const double f16 = std::ldexp(1.0, -11), q8 = std::ldexp(1.0, -8);
  const double weights = (weight_type == GGML_TYPE_F16 || weight_type == GGML_TYPE_F32) ? f16 : q8;
  const double kv = kv_type == GGML_TYPE_Q8_0 ? q8 : f16;
  return std::max(weights, kv);
}

class LogitsVsLlama : public ::testing::TestWithParam<Case> {};

TEST_P(LogitsVsLlama, PrefillDecodeAndGreedyMatch) {
  const Case& c = GetParam();
  RandomModelSpec spec;
  spec.arch = c.arch;
  spec.vocab_path = test::VocabPath(c.vocab);
  spec.n_embd = 256, spec.n_layer = 4, spec.n_head = 8, spec.n_head_kv = 2;
  spec.weight_type = c.type;
  spec.n_ff = c.n_ff;
  spec.tied_output = c.tied;
  spec.rope_scaling = c.rope_scaling;
  spec.rope_scaling_factor = c.rope_scaling == "none" ? 1.0f : 4.0f;
  spec.n_ctx_train = 512;  // with scaling on, positions past 512 exercise the scaled range
  spec.init_std = 0.05f;   // peakier logits than 0.02, so greedy choices are well separated
  const std::string path = test::FixtureModel(c.name, spec);

  auto model = Model::Load(path);
  auto tok = Tokenizer::Load(path);
  const int L = model->config().n_layer;
  const double rel = (5.0 * L + 2.0) * UnitRoundoff(c.type, c.kv);

  // ~700 tokens: two prefill micro-batches of 512 in our engine.
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text += "The quick brown fox jumps over the lazy dog " + std::to_string(i) + " times. ";
  }
  const std::vector<int32_t> prompt = tok->Tokenize(text, true);
  ASSERT_GT(prompt.size(), 520u);
  const int n_decode = 40, n_greedy = 64;
  const int n_ctx = int(prompt.size()) + n_decode + n_greedy + 8;

  SessionParams sp;
  sp.n_ctx = n_ctx;
  sp.n_threads = 2;
  sp.kv_type = c.kv;
  Session ours(*model, sp);
  ReferenceParams rp;
  rp.n_ctx = n_ctx;
  rp.n_threads = 2;
  rp.kv_type = c.kv;
  auto ref = LlamaReference::Load(path, rp);
  const size_t V = size_t(model->config().n_vocab);

  double worst_nmse = 0, worst_rel = 0;
  auto track = [&](const Diff& d) {
    worst_nmse = std::max(worst_nmse, d.nmse);
    worst_rel = std::max(worst_rel, d.max_abs / d.ref_max);
  };
  // Prefill: every position's logits.
  std::vector<float> ours_all, ref_all;
  ours.Prefill(prompt, &ours_all);
  ref->Prefill(prompt, &ref_all);
  ASSERT_EQ(ours_all.size(), ref_all.size());
  for (size_t t = 0; t < prompt.size(); ++t) {
    const Diff d = Compare(ours_all.data() + t * V, ref_all.data() + t * V, V);
    track(d);
    ASSERT_LE(d.nmse, rel * rel) << "prefill position " << t;
    ASSERT_LE(d.max_abs, rel * d.ref_max) << "prefill position " << t;
  }

  // Decode, teacher-forced with the reference's greedy token so both see the same inputs.
  for (int s = 0; s < n_decode; ++s) {
    const int32_t next = ArgMax(ref->last_logits());
    const Diff d = Compare(ours.Decode(next).data(), ref->Decode(next).data(), V);
    track(d);
    ASSERT_LE(d.nmse, rel * rel) << "decode step " << s;
    ASSERT_LE(d.max_abs, rel * d.ref_max) << "decode step " << s;
  }

  RecordProperty("worst_nmse", std::to_string(worst_nmse));
  std::printf("  worst NMSE %.3g (bound %.3g), worst max|diff|/max|logit| %.3g (bound %.3g)\n", worst_nmse,
              rel * rel, worst_rel, rel);

  // Greedy continuation, each engine on its own choices: the same 64 tokens.
  std::vector<int32_t> ours_gen, ref_gen;
  for (int s = 0; s < n_greedy; ++s) {
    ours_gen.push_back(ArgMax(ours.last_logits()));
    ref_gen.push_back(ArgMax(ref->last_logits()));
    ours.Decode(ours_gen.back());
    ref->Decode(ref_gen.back());
  }
  EXPECT_EQ(ours_gen, ref_gen);
}

INSTANTIATE_TEST_SUITE_P(
    Archs, LogitsVsLlama,
    ::testing::Values(Case{"llama_spm_f16", Arch::kLlama, "llama-spm"},
                      Case{"llama3_bpe_f16", Arch::kLlama, "llama-bpe"},
                      Case{"qwen2_f16_tied", Arch::kQwen2, "qwen2", GGML_TYPE_F16, true},
                      Case{"qwen3_f16", Arch::kQwen3, "qwen2"},
                      Case{"llama_spm_f32_linear_rope", Arch::kLlama, "llama-spm", GGML_TYPE_F32, false, "linear"},
                      Case{"qwen2_q8_0_yarn", Arch::kQwen2, "qwen2", GGML_TYPE_Q8_0, false, "yarn"},
                      Case{"llama_spm_q4_0_tied", Arch::kLlama, "llama-spm", GGML_TYPE_Q4_0, true},
                      Case{"llama_spm_kv_q8_0", Arch::kLlama, "llama-spm", GGML_TYPE_F16, false, "none", 0,
                           GGML_TYPE_Q8_0},
                      Case{"qwen3_kv_f32", Arch::kQwen3, "llama-spm", GGML_TYPE_F16, false, "none", 0, GGML_TYPE_F32},
                      Case{"qwen3_q4_K", Arch::kQwen3, "llama-spm", GGML_TYPE_Q4_K, false, "none", 768}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace chunkllm
