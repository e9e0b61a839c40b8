// Agreement with dense attention's answers (issue 33): whether a method keeps the answer that
// vanilla attention gives to the same prompt, right or wrong. A weak backbone bounds every task
// score, but not this: a method that reads part of the cache should give the model's own answer.
// Per sample and method, with dense attention's greedy run as the reference:
//   same_answer: the method's greedy answer text is dense's, token for token (a stop on the end
//   of generation and one on a newline count alike: neither is part of the text);
//   KL and top-1 on the answer: teacher-forced on dense's answer steps (each token dense chose,
//   its stop token included), KL(dense || method) of the next-token distributions in nats and
//   whether the method's argmax is dense's token, averaged over at most the first
//   kAgreementSteps steps (the generated tasks answer in at most 64 tokens; a task file may ask
//   for thousands, and each step keeps a vocabulary's logits).
#pragma once

#include <cstdint>
#include <vector>

#include "chunk/policy_spec.h"
#include "model/session.h"

namespace chunkllm {

class Tokenizer;

constexpr int kAgreementSteps = 64;

// One greedy answer: every token chosen (steps: the text's tokens, then the stop token when the
// run stopped on one) and the logits of the first `keep` steps (V floats each).
struct GreedyAnswer {
  std::vector<int32_t> tokens;              // the answer's text tokens
  std::vector<int32_t> steps;               // tokens + the stop token if there was one
  std::vector<std::vector<float>> logits;   // per step, the first `keep` steps
};

// Where a greedy answer ends besides the end of generation and max_new tokens: eval scores the
// first line (a piece holding a newline once something was generated), trace shows the whole run.
enum class StopAt { kNewline, kEndOfGeneration };

// Greedy decoding after a prefill (already done on `session`): stops at the end of generation,
// at a newline (StopAt::kNewline), or after max_new tokens. Keeps the logits of the first `keep`
// steps (0: none).
GreedyAnswer DecodeGreedy(Session& session, const Tokenizer& tok, int max_new, int keep, StopAt stop);

struct AnswerAgreement {
  bool same_answer = false;
  int steps = 0;            // dense's answer steps scored
  double kl = 0, top1 = 1;  // means over the steps (no steps: 0 and 1)
};

// Compares a method's logits teacher-forced on dense's first min(steps, kAgreementSteps) steps
// (one per step) with dense's own. Throws Error when the counts or vocabularies differ.
AnswerAgreement CompareAnswer(const GreedyAnswer& dense, const std::vector<std::vector<float>>& method_logits,
                              bool same_answer);

// The method's logits teacher-forced on `steps` (dense's), in a fresh session: prefill `prompt`,
// the first step's logits are its last, then decode steps[0..n-2].
std::vector<std::vector<float>> TeacherForcedLogits(const Model& model, const SessionParams& sp,
                                                    const PolicySpec& spec, const std::vector<int32_t>& prompt,
                                                    const std::vector<int32_t>& steps);

// A method's agreement with dense on one sample, from its free greedy run (`run`, logits kept
// as dense's were): when it chose dense's steps, its own logits are the teacher-forced ones
// (greedy decoding is deterministic); otherwise they are computed again (TeacherForcedLogits).
AnswerAgreement AgreeWithDense(const Model& model, const SessionParams& sp, const PolicySpec& spec,
                               const std::vector<int32_t>& prompt, const GreedyAnswer& dense,
                               const GreedyAnswer& run);

}  // namespace chunkllm
