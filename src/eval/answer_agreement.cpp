#include "eval/answer_agreement.h"

#include <algorithm>

#include "core/error.h"
#include "core/log_softmax.h"
#include "eval/fidelity.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

namespace chunkllm {

GreedyAnswer DecodeGreedy(Session& session, const Tokenizer& tok, int max_new, int keep, StopAt stop) {
  GreedyAnswer a;
  if (max_new <= 0) return a;
  auto choose = [&](const std::vector<float>& logits) {
    if (int(a.logits.size()) < keep) a.logits.push_back(logits);  // a copy: the session reuses its buffer
    const int32_t t = ArgMax(logits);
    a.steps.push_back(t);
    return t;
  };
  int32_t next = choose(session.last_logits());
  for (int i = 0; i < max_new; ++i) {
    if (tok.IsEndOfGeneration(next)) return a;
    if (stop == StopAt::kNewline && !a.tokens.empty() && tok.TokenToPiece(next).find('\n') != std::string::npos) {
      return a;
    }
    a.tokens.push_back(next);
    if (i + 1 < max_new) next = choose(session.Decode(next));
  }
  return a;  // max_new tokens: no stop step
}

AnswerAgreement CompareAnswer(const GreedyAnswer& dense, const std::vector<std::vector<float>>& method_logits,
                              bool same_answer) {
  const size_t n = std::min(dense.steps.size(), size_t(kAgreementSteps));
  if (dense.logits.size() < n || method_logits.size() < n) {
    Fail("answer agreement: ", n, " steps to compare, but dense kept ", dense.logits.size(), " and the method ",
         method_logits.size());
  }
  AnswerAgreement r;
  r.same_answer = same_answer;
  r.steps = int(n);
  if (n == 0) return r;
  double kl = 0, top1 = 0;
  std::vector<double> p, q;
  for (size_t i = 0; i < n; ++i) {
    if (dense.logits[i].size() != method_logits[i].size()) {
      Fail("answer agreement: vocabularies of ", dense.logits[i].size(), " and ", method_logits[i].size(), " tokens");
    }
    LogSoftmax(dense.logits[i], p);
    LogSoftmax(method_logits[i], q);
    kl += KlOfLogProbs(p, q);
    top1 += ArgMax(method_logits[i]) == dense.steps[i] ? 1 : 0;
  }
  r.kl = kl / double(n), r.top1 = top1 / double(n);
  return r;
}

std::vector<std::vector<float>> TeacherForcedLogits(const Model& model, const SessionParams& sp,
                                                    const PolicySpec& spec, const std::vector<int32_t>& prompt,
                                                    const std::vector<int32_t>& steps) {
  std::vector<std::vector<float>> logits;
  if (steps.empty()) return logits;
  std::unique_ptr<AttentionPolicy> policy = spec.NewPolicy();
  Session s(model, sp, policy.get());
  s.Prefill(prompt);
  logits.push_back(s.last_logits());
  for (size_t i = 0; i + 1 < steps.size(); ++i) logits.push_back(s.Decode(steps[i]));
  return logits;
}

AnswerAgreement AgreeWithDense(const Model& model, const SessionParams& sp, const PolicySpec& spec,
                               const std::vector<int32_t>& prompt, const GreedyAnswer& dense,
                               const GreedyAnswer& run) {
  const bool same = run.tokens == dense.tokens;
  if (run.steps == dense.steps) return CompareAnswer(dense, run.logits, same);
  const size_t n = std::min(dense.steps.size(), size_t(kAgreementSteps));
  const std::vector<int32_t> forced(dense.steps.begin(), dense.steps.begin() + std::ptrdiff_t(n));
  return CompareAnswer(dense, TeacherForcedLogits(model, sp, spec, prompt, forced), same);
}

}  // namespace chunkllm
