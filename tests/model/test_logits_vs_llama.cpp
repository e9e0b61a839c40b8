// Our logits against libllama's on the same random-weight file, for each architecture, weight
// type, KV type and RoPE scaling: prefill (every position), 40 teacher-forced decode steps, and a
// 64-token greedy continuation, bit for bit. Both engines build the same ggml graph (ours in
// model/forward_graph.cpp, libllama's) with the same ops in the same order, the same KV padding
// and the same threads, in one process on one ggml build, so the same kernels run on the same
// inputs on any CPU: a difference in any bit is a difference in the graph. A tolerance derived
// from the dtype (a relative (5L + 2) u of max|logit|, u the coarsest rounding) is printed for
// scale only: the negative controls below show that it would pass a 0.5% wrong RoPE base in f16
// and a 5% wrong YaRN factor in q8_0, which equality does not.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

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

// The unit roundoff of the coarsest rounding in the pass, for the printed tolerance: the weights'
// activation type and the KV cache type (f16 and f32 KV are both read as f16 by flash attention).
double UnitRoundoff(ggml_type weight_type, ggml_type kv_type) {
  const double f16 = std::ldexp(1.0, -11), q8 = std::ldexp(1.0, -8);
  const double weights = (weight_type == GGML_TYPE_F16 || weight_type == GGML_TYPE_F32) ? f16 : q8;
  const double kv = kv_type == GGML_TYPE_Q8_0 ? q8 : f16;
  return std::max(weights, kv);
}

RandomModelSpec SpecFor(const Case& c) {
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
  return spec;
}

// How far our engine (on ours_path) and libllama (on ref_path: the same file, or for a negative
// control one that differs in a single metadata value) are apart: prefill logits at every
// position of a ~700-token prompt (two of our micro-batches of 512), then 40 decode steps
// teacher-forced with the reference's greedy token so both see the same inputs, then a
// 64-token greedy continuation, each engine on its own choices.
struct Agreement {
  double worst_nmse = 0, worst_rel = 0;  // rel: max|diff| / max|logit| of the same row
  std::string worst_at;                  // where worst_rel was seen
  bool bit_equal = true;                 // every logit of prefill and decode identical
  std::vector<int32_t> ours_greedy, ref_greedy;
};

Agreement RunBoth(const std::string& ours_path, const std::string& ref_path, ggml_type kv,
                  AttentionKernel kernel = AttentionKernel::kGgml) {
  auto model = Model::Load(ours_path);
  auto tok = Tokenizer::Load(ours_path);
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text += "The quick brown fox jumps over the lazy dog " + std::to_string(i) + " times. ";
  }
  const std::vector<int32_t> prompt = tok->Tokenize(text, true);
  EXPECT_GT(prompt.size(), 520u);
  const int n_decode = 40, n_greedy = 64;
  const int n_ctx = int(prompt.size()) + n_decode + n_greedy + 8;
  SessionParams sp;
  sp.n_ctx = n_ctx, sp.n_threads = 2, sp.kv_type = kv;
  sp.attn_kernel = kernel;  // ggml: libllama's kernel, its arithmetic bit for bit
  Session ours(*model, sp);
  ReferenceParams rp;
  rp.n_ctx = n_ctx, rp.n_threads = 2, rp.kv_type = kv;
  auto ref = LlamaReference::Load(ref_path, rp);
  const size_t V = size_t(model->config().n_vocab);

  Agreement a;
  auto track = [&](const float* x, const float* y, const std::string& where) {
    const Diff d = Compare(x, y, V);
    a.bit_equal = a.bit_equal && std::memcmp(x, y, V * sizeof(float)) == 0;
    a.worst_nmse = std::max(a.worst_nmse, d.nmse);
    if (d.max_abs / d.ref_max > a.worst_rel) a.worst_rel = d.max_abs / d.ref_max, a.worst_at = where;
  };
  std::vector<float> ours_all, ref_all;
  ours.Prefill(prompt, &ours_all);
  ref->Prefill(prompt, &ref_all);
  EXPECT_EQ(ours_all.size(), ref_all.size());
  for (size_t t = 0; t < prompt.size() && (t + 1) * V <= std::min(ours_all.size(), ref_all.size()); ++t) {
    track(ours_all.data() + t * V, ref_all.data() + t * V, "prefill position " + std::to_string(t));
  }
  for (int s = 0; s < n_decode; ++s) {
    const int32_t next = ArgMax(ref->last_logits());
    const std::vector<float> o = ours.Decode(next);
    track(o.data(), ref->Decode(next).data(), "decode step " + std::to_string(s));
  }
  for (int s = 0; s < n_greedy; ++s) {
    a.ours_greedy.push_back(ArgMax(ours.last_logits()));
    a.ref_greedy.push_back(ArgMax(ref->last_logits()));
    ours.Decode(a.ours_greedy.back());
    ref->Decode(a.ref_greedy.back());
  }
  return a;
}

// The check: every logit equal. The dtype's tolerance (header) is printed beside it, for scale.
::testing::AssertionResult Agrees(const Case& c, const Agreement& a) {
  const double rel = (5.0 * SpecFor(c).n_layer + 2.0) * UnitRoundoff(c.type, c.kv);
  std::printf("  %s: bit-equal %s; worst NMSE %.3g, worst max|diff|/max|logit| %.3g at %s (the dtype's tolerance: "
              "%.3g and %.3g)\n",
              c.name.c_str(), a.bit_equal ? "yes" : "no", a.worst_nmse, a.worst_rel, a.worst_at.c_str(), rel * rel, rel);
  if (a.bit_equal) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "not bit-equal: worst max|diff|/max|logit| " << a.worst_rel << " at "
                                       << a.worst_at;
}

class LogitsVsLlama : public ::testing::TestWithParam<Case> {};

TEST_P(LogitsVsLlama, PrefillDecodeAndGreedyMatch) {
  const Case& c = GetParam();
  const std::string path = test::FixtureModel(c.name, SpecFor(c));
  const Agreement a = RunBoth(path, path, c.kv);
  EXPECT_TRUE(Agrees(c, a));
  EXPECT_EQ(a.ours_greedy, a.ref_greedy);
}

// The split-KV decode kernel, as the session wires it (scale, mask, q and cache layouts), against
// libllama: not the same arithmetic (it sums V in f32 where ggml's kernel sums in f16), so the
// dtype's tolerance of the header is the check. It passes small errors (see the controls
// below); a wrong scale, mask, head mapping or layout moves logits by far more.
TEST_P(LogitsVsLlama, ChunkllmKernelsWithinTheDtypeTolerance) {
  const Case& c = GetParam();
  const std::string path = test::FixtureModel(c.name, SpecFor(c));
  const Agreement a = RunBoth(path, path, c.kv, AttentionKernel::kChunkllm);
  const double rel = (5.0 * SpecFor(c).n_layer + 2.0) * UnitRoundoff(c.type, c.kv);
  std::printf("  %s, split-KV: worst max|diff|/max|logit| %.3g at %s (tolerance %.3g)\n", c.name.c_str(),
              a.worst_rel, a.worst_at.c_str(), rel);
  EXPECT_LE(a.worst_rel, rel) << a.worst_at;
}

// Negative controls: the check above must fail when one engine reads a slightly wrong RoPE. Our
// engine runs the case's file, libllama a copy whose only difference is the RoPE base (+0.5%) or
// the YaRN factor (4 -> 4.2, which also moves YaRN's attention factor 0.1 ln(s) + 1 by 1%).
TEST(LogitsVsLlamaControls, ASlightlyWrongRopeBaseOrYarnFactorFailsTheCheck) {
  struct Control {
    Case c;
    const char* what;
    void (*perturb)(RandomModelSpec&);
  };
  auto base = [](RandomModelSpec& s) { s.rope_freq_base *= 1.005f; };
  auto factor = [](RandomModelSpec& s) { s.rope_scaling_factor *= 1.05f; };
  const Control controls[] = {
      {{"llama_spm_f16", Arch::kLlama, "llama-spm"}, "RoPE base", base},
      {{"qwen2_f16_yarn", Arch::kQwen2, "qwen2", GGML_TYPE_F16, false, "yarn"}, "YaRN factor", factor},
      {{"qwen2_q8_0_yarn", Arch::kQwen2, "qwen2", GGML_TYPE_Q8_0, false, "yarn"}, "YaRN factor", factor},
      {{"llama_spm_q4_0_tied", Arch::kLlama, "llama-spm", GGML_TYPE_Q4_0, true}, "RoPE base", base},
  };
  for (const Control& k : controls) {
    SCOPED_TRACE(k.c.name + std::string(" with a wrong ") + k.what);
    RandomModelSpec wrong = SpecFor(k.c);
    k.perturb(wrong);
    const std::string path = test::FixtureModel(k.c.name, SpecFor(k.c));
    const std::string wrong_path = test::FixtureModel(k.c.name + "-wrong-" + k.what, wrong);
    const Agreement a = RunBoth(path, wrong_path, k.c.kv);
    EXPECT_FALSE(Agrees(k.c, a)) << "the check passed a libllama that read another " << k.what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Archs, LogitsVsLlama,
    ::testing::Values(Case{"llama_spm_f16", Arch::kLlama, "llama-spm"},
                      Case{"llama3_bpe_f16", Arch::kLlama, "llama-bpe"},
                      Case{"qwen2_f16_tied", Arch::kQwen2, "qwen2", GGML_TYPE_F16, true},
                      Case{"qwen3_f16", Arch::kQwen3, "qwen2"},
                      Case{"llama_spm_f32_linear_rope", Arch::kLlama, "llama-spm", GGML_TYPE_F32, false, "linear"},
                      Case{"qwen2_q8_0_yarn", Arch::kQwen2, "qwen2", GGML_TYPE_Q8_0, false, "yarn"},
                      Case{"qwen2_f16_yarn", Arch::kQwen2, "qwen2", GGML_TYPE_F16, false, "yarn"},
                      Case{"llama_spm_f32_yarn", Arch::kLlama, "llama-spm", GGML_TYPE_F32, false, "yarn"},
                      Case{"llama_spm_q4_0_tied", Arch::kLlama, "llama-spm", GGML_TYPE_Q4_0, true},
                      Case{"llama_spm_kv_q8_0", Arch::kLlama, "llama-spm", GGML_TYPE_F16, false, "none", 0,
                           GGML_TYPE_Q8_0},
                      Case{"qwen3_kv_f32", Arch::kQwen3, "llama-spm", GGML_TYPE_F16, false, "none", 0, GGML_TYPE_F32},
                      Case{"qwen3_q4_K", Arch::kQwen3, "llama-spm", GGML_TYPE_Q4_K, false, "none", 768}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace chunkllm
