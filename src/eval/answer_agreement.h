// Agreement with dense attention's answers (issue 33): whether a method keeps the answer that
// vanilla attention gives to the same prompt, right or wrong. A weak backbone bounds every task
// score, but not this: a method that reads part of the cache should give the model's own answer.
// Per sample and method, with dense attention's greedy run as the reference:
//   same_answer: the method's greedy answer is dense's, token for token, its stop included;
//   KL and top-1 on the answer: teacher-forced on dense's answer steps (each token dense chose,
//   the stop token included), KL(dense || method) of the next-token distributions in nats and
//   whether the method's argmax is dense's token, averaged over the steps.
#pragma once

#include <cstdint>
#include <vector>

#include "chunk/policy_spec.h"
#include "model/session.h"

namespace chunkllm {

class Tokenizer;

// One greedy answer: every token chosen (steps; the stop token, which is not part of the text,
// included when the run stopped on one) and, when asked for, the log-softmax of the logits each
// step chose from (steps x V, double).
struct GreedyAnswer {
  std::vector<int32_t> tokens;              // the answer's text tokens
  std::vector<int32_t> steps;               // tokens + the stop token if there was one
  std::vector<std::vector<double>> logp;    // per step (empty unless kept)
};

// Greedy decoding after a prefill of `prompt` (already done on `session`): stops at the end of
// generation, at a piece holding a newline once something was generated, or after max_new
// tokens. keep_logp keeps each step's log-probabilities.
GreedyAnswer DecodeGreedy(Session& session, const Tokenizer& tok, int max_new, bool keep_logp);

struct AnswerAgreement {
  bool same_answer = false;
  int steps = 0;            // dense's answer steps scored
  double kl = 0, top1 = 1;  // means over the steps (no steps: 0 and 1)
};

// Compares a method's teacher-forced log-probabilities on dense's steps (one per step) with
// dense's own. Throws Error when the counts or vocabularies differ.
AnswerAgreement CompareAnswer(const GreedyAnswer& dense, const std::vector<std::vector<double>>& method_logp,
                              bool same_answer);

// The method's log-probabilities teacher-forced on `steps` (dense's), in a fresh session:
// prefill `prompt`, the first step's distribution from its last logits, then decode steps[0..n-2].
std::vector<std::vector<double>> TeacherForcedLogProbs(const Model& model, const SessionParams& sp,
                                                       const PolicySpec& spec, const std::vector<int32_t>& prompt,
                                                       const std::vector<int32_t>& steps);

// A method's agreement with dense on one sample, from its free greedy run (`run`, with logp
// kept): when it chose dense's steps its own log-probabilities are the teacher-forced ones;
// otherwise they are computed again teacher-forced (TeacherForcedLogProbs).
AnswerAgreement AgreeWithDense(const Model& model, const SessionParams& sp, const PolicySpec& spec,
                               const std::vector<int32_t>& prompt, const GreedyAnswer& dense,
                               const GreedyAnswer& run);

}  // namespace chunkllm
