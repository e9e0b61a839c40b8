// Fidelity to vanilla attention (docs/evaluation.md, "Fidelity"): on held-out documents, every
// method decodes the last `decode_tokens` tokens of a window with teacher forcing (the true
// token is fed whatever the method predicted), after a dense prefill of the rest, so each
// decode step attends the way the method does. At every decoded position:
//   KL(vanilla || method) of the next-token distributions (nats),
//   top-1 agreement: the method's argmax equals vanilla's,
//   the method's log-likelihood of the true next token (-> perplexity).
// Vanilla is the dense policy through the same decode path: dense against itself is KL 0.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chunk/policy_spec.h"
#include "model/session.h"

namespace chunkllm {

class Tokenizer;

struct FidelityOptions {
  std::vector<int> lengths = {1024, 4096};  // window tokens (BOS included)
  int documents = 2;                        // windows per length (0: no fidelity run)
  int decode_tokens = 256;                  // decoded (and scored) tokens at the end of each window,
                                            // at most half the window
  std::string text_dir = "data/corpus/test";
};

struct FidelityResult {
  std::string method;
  int length = 0, document = 0, tokens = 0;  // tokens scored
  double kl = 0, top1 = 0, nll = 0;          // means per token (nll in nats)
  double attended_fraction = 1, resident_fraction = 1;
  double perplexity() const;
};

nlohmann::json ToJson(const FidelityResult& r);

// KL(p || q) in nats of two log-probability vectors (core/log_softmax.h's LogSoftmax), clamped at 0.
double KlOfLogProbs(const std::vector<double>& p, const std::vector<double>& q);

// Runs every method on every window, each window in a fresh policy from the method's spec. The
// session's n_ctx must hold the longest window; progress(done, total) is called after each
// (window, method).
std::vector<FidelityResult> RunFidelity(const Model& model, const Tokenizer& tok, SessionParams sp,
                                        const std::vector<PolicySpec>& methods, const FidelityOptions& o,
                                        const std::function<void(int, int)>& progress = {});

}  // namespace chunkllm
