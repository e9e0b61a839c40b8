// Generation: the token-by-token loop every generator shares (`run` and the server's slots): pick
// the next token from the latest position's logits, stop at an end-of-generation token or after
// n_predict tokens. It owns the sampler but not the session, so the caller decides how the picked
// token is decoded (a session's own step, or a step batched with other sequences) and may end
// the generation for reasons of its own (a full context, a stop string, a client gone).
//
// The loop, as `run` drives it:
//   for (int32_t t; (t = gen.Next(session.last_logits())) >= 0;) {
//     emit t;
//     if (session.n_past() >= session.n_ctx()) { gen.Stop(FinishReason::kContextFull); break; }
//     session.Decode(t);
//   }
#pragma once

#include <cstdint>
#include <vector>

#include "text/sampler.h"
#include "text/tokenizer.h"

namespace chunkllm {

enum class FinishReason {
  kNone,             // still generating
  kEndOfGeneration,  // the model sampled an end-of-generation token (not emitted)
  kMaxTokens,        // n_predict tokens were generated
  kContextFull,      // the caller stopped: no position left to decode the last token
  kStopString,       // the caller stopped: a stop string appeared in the text
  kCancelled,        // the caller stopped for another reason (e.g. the client went away)
};

class Generation {
 public:
  // n_predict < 0: no limit but the caller's. The sampler's parameters are checked here (Error).
  // ignore_eog: end-of-generation tokens are never drawn (their logits taken as -inf), so a
  // generation runs to n_predict tokens (llama-server's ignore_eos, for measurements).
  Generation(const Tokenizer& tokenizer, const SamplerParams& sampler, int n_predict, bool ignore_eog = false);

  // The next token drawn from `logits` (V floats, the latest position's), or -1 once the
  // generation is over (then finish() says why; an end-of-generation token is not returned).
  int32_t Next(const std::vector<float>& logits);
  // The caller ends the generation (after Next returned the last token it emits).
  void Stop(FinishReason why);

  // n_predict tokens were returned: the next Next() ends the generation, so a caller that knows
  // it may skip decoding the last one.
  bool at_limit() const { return n_predict_ >= 0 && n_generated_ >= n_predict_; }
  bool done() const { return finish_ != FinishReason::kNone; }
  FinishReason finish() const { return finish_; }
  int n_generated() const { return n_generated_; }

 private:
  const Tokenizer& tokenizer_;
  Sampler sampler_;
  int n_predict_;
  int n_generated_ = 0;
  std::vector<int32_t> eog_tokens_;  // with ignore_eog: the tokens masked
  std::vector<float> masked_;        // scratch: the logits with those masked
  FinishReason finish_ = FinishReason::kNone;
};

}  // namespace chunkllm
