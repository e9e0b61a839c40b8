#include "eval/answer_agreement.h"

#include <algorithm>

#include "core/error.h"
#include "eval/fidelity.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

namespace chunkllm {

GreedyAnswer DecodeGreedy(Session& session, const Tokenizer& tok, int max_new, bool keep_logp) {
  GreedyAnswer a;
  auto choose = [&](const std::vector<float>& logits) {
    if (keep_logp) LogSoftmax(logits, a.logp.emplace_back());
    const int32_t t = ArgMax(logits);
    a.steps.push_back(t);
    return t;
  };
  int32_t next = choose(session.last_logits());
  for (int i = 0; i < max_new; ++i) {
    if (tok.IsEndOfGeneration(next)) return a;
    if (tok.TokenToPiece(next).find('\n') != std::string::npos && !a.tokens.empty()) return a;
    a.tokens.push_back(next);
    if (i + 1 < max_new) next = choose(session.Decode(next));
  }
  return a;  // max_new tokens: no stop step
}

AnswerAgreement CompareAnswer(const GreedyAnswer& dense, const std::vector<std::vector<double>>& method_logp,
                              bool same_answer) {
  if (dense.logp.size() != dense.steps.size() || method_logp.size() != dense.steps.size()) {
    Fail("answer agreement: dense has ", dense.steps.size(), " steps with ", dense.logp.size(),
         " distributions, the method ", method_logp.size());
  }
  AnswerAgreement r;
  r.same_answer = same_answer;
  r.steps = int(dense.steps.size());
  if (r.steps == 0) return r;
  double kl = 0, top1 = 0;
  for (size_t i = 0; i < dense.steps.size(); ++i) {
    const std::vector<double>& p = dense.logp[i];
    const std::vector<double>& q = method_logp[i];
    if (p.size() != q.size()) Fail("answer agreement: vocabularies of ", p.size(), " and ", q.size(), " tokens");
    kl += KlOfLogProbs(p, q);
    top1 += int32_t(std::max_element(q.begin(), q.end()) - q.begin()) == dense.steps[i] ? 1 : 0;
  }
  r.kl = kl / r.steps, r.top1 = top1 / r.steps;
  return r;
}

std::vector<std::vector<double>> TeacherForcedLogProbs(const Model& model, const SessionParams& sp,
                                                       const PolicySpec& spec, const std::vector<int32_t>& prompt,
                                                       const std::vector<int32_t>& steps) {
  std::vector<std::vector<double>> logp;
  if (steps.empty()) return logp;
  std::unique_ptr<AttentionPolicy> policy = spec.NewPolicy();
  Session s(model, sp, policy.get());
  s.Prefill(prompt);
  LogSoftmax(s.last_logits(), logp.emplace_back());
  for (size_t i = 0; i + 1 < steps.size(); ++i) LogSoftmax(s.Decode(steps[i]), logp.emplace_back());
  return logp;
}

AnswerAgreement AgreeWithDense(const Model& model, const SessionParams& sp, const PolicySpec& spec,
                               const std::vector<int32_t>& prompt, const GreedyAnswer& dense,
                               const GreedyAnswer& run) {
  // Greedy decoding is deterministic: a run that chose dense's steps fed dense's tokens, so its
  // distributions are the teacher-forced ones.
  if (run.steps == dense.steps) return CompareAnswer(dense, run.logp, run.tokens == dense.tokens);
  return CompareAnswer(dense, TeacherForcedLogProbs(model, sp, spec, prompt, dense.steps), run.tokens == dense.tokens);
}

}  // namespace chunkllm
