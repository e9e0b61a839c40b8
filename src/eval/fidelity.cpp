#include "eval/fidelity.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/file_util.h"
#include "core/log_softmax.h"
#include "model/model.h"
#include "text/text_windows.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

size_t ArgMaxD(const std::vector<double>& v) { return size_t(std::max_element(v.begin(), v.end()) - v.begin()); }

// Per decoded position of one window under one method: the log-probabilities (N x V).
struct Decoded {
  std::vector<std::vector<double>> logp;
  AttentionStats stats;
};

Decoded DecodeWindow(const Model& model, const SessionParams& sp, const PolicySpec& spec,
                     const std::vector<int32_t>& w, int n_decode) {
  std::unique_ptr<AttentionPolicy> policy = spec.NewPolicy();
  Session s(model, sp, policy.get());
  const int L = int(w.size()) - 1, P = L - n_decode;  // prefill [0, P), decode [P, L), targets [P+1, L]
  s.Prefill(std::vector<int32_t>(w.begin(), w.begin() + P));
  Decoded d;
  d.logp.resize(size_t(n_decode));
  for (int i = 0; i < n_decode; ++i) LogSoftmax(s.Decode(w[size_t(P + i)]), d.logp[size_t(i)]);
  d.stats = policy->stats();
  return d;
}

}  // namespace

double KlOfLogProbs(const std::vector<double>& p, const std::vector<double>& q) {
  double kl = 0;
  for (size_t v = 0; v < p.size(); ++v) kl += std::exp(p[v]) * (p[v] - q[v]);
  return std::max(0.0, kl);  // >= 0 in exact arithmetic; rounding can leave -1e-16
}

double FidelityResult::perplexity() const { return std::exp(nll); }

nlohmann::json ToJson(const FidelityResult& r) {
  return {{"method", r.method}, {"length", r.length}, {"document", r.document}, {"tokens", r.tokens},
          {"kl", r.kl}, {"top1_agreement", r.top1}, {"nll", r.nll}, {"perplexity", r.perplexity()},
          {"attended_fraction", r.attended_fraction}, {"resident_fraction", r.resident_fraction}};
}

std::vector<FidelityResult> RunFidelity(const Model& model, const Tokenizer& tok, SessionParams sp,
                                        const std::vector<PolicySpec>& methods, const FidelityOptions& o,
                                        const std::function<void(int, int)>& progress) {
  if (o.decode_tokens < 1) Fail("--fidelity-tokens must be positive, got ", o.decode_tokens);
  for (int L : o.lengths) {
    if (L < 2) Fail("fidelity windows need at least 2 tokens, got ", L);
  }
  const PolicySpec vanilla(model, AttentionOptions{});  // dense
  std::vector<FidelityResult> results;
  const int total = int(o.lengths.size()) * o.documents * int(methods.size());
  int done = 0;
  for (int L : o.lengths) {
    sp.n_ctx = std::max(sp.n_ctx, L + 1);
    const int n_decode = std::min(o.decode_tokens, L / 2);
    const auto windows = TextWindows(tok, o.text_dir, L, o.documents);
    for (size_t wi = 0; wi < windows.size(); ++wi) {
      const std::vector<int32_t>& w = windows[wi];
      const Decoded ref = DecodeWindow(model, sp, vanilla, w, n_decode);
      for (const PolicySpec& m : methods) {
        // dense runs again rather than reusing ref: its KL of 0 then checks that decoding repeats.
        const Decoded d = DecodeWindow(model, sp, m, w, n_decode);
        FidelityResult r;
        r.method = m.name(), r.length = L, r.document = int(wi), r.tokens = n_decode;
        const size_t P = w.size() - 1 - size_t(n_decode);
        for (size_t i = 0; i < d.logp.size(); ++i) {
          const auto& p = ref.logp[i];
          const auto& q = d.logp[i];
          r.kl += KlOfLogProbs(p, q);
          r.top1 += ArgMaxD(p) == ArgMaxD(q);
          r.nll -= q[size_t(w[P + 1 + i])];
        }
        r.kl /= double(r.tokens), r.top1 /= double(r.tokens), r.nll /= double(r.tokens);
        r.attended_fraction = d.stats.attended_fraction();
        r.resident_fraction = d.stats.resident_fraction();
        results.push_back(r);
        if (progress) progress(++done, total);
      }
    }
  }
  return results;
}

}  // namespace chunkllm
