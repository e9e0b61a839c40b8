// `chunkllm trace`: why a sparse method's answer differs from dense attention's, step by step.
//
// One prompt (a task record, as eval builds it: context + question + answer prefix) is prefilled
// in two sessions, dense and the method's. Both are then fed dense attention's own greedy
// continuation (teacher forcing), so at every step they see the same tokens and differ only in
// what the method's layers read. At each decode step the trace records, per layer: the share
// of cached positions the method read, the share of dense attention's probability mass (per
// query head, from the step's post-RoPE queries over the whole cache) that falls on those
// positions (mean over heads and the worst head), and the mass dense attention puts on the
// needle (the tokens of the record's answer inside the context) and how much of it the method
// read. Plus the two argmax tokens and KL(dense || method) of the step's next-token distribution.
//
// A step where the method's argmax leaves dense's is a loss; the layers and heads whose mass
// went unread at that step say where it came from (a selection that dropped the needle's
// chunk, a layer whose own top chunks differ from the vote, a head that attends where the
// others do not).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "chunk/attention_options.h"

namespace chunkllm {

struct TraceOptions {
  std::string model_path;
  std::string tasks_path;  // --tasks FILE.jsonl (from eval --dump)
  int sample = 0;          // --sample: the record's index in the file
  int n_predict = 0;       // -n: decode steps (0: the record's max_new_tokens)
  int n_threads = 2;
  AttentionOptions attention;  // the method traced against dense
  std::string json_path;       // -o FILE.json: every step and layer
};

struct TraceLayer {
  double read = 1.0;          // share of cached positions the method's layer read
  double mass = 1.0;          // dense attention mass on what it read, mean over query heads
  double worst_head = 1.0;    // ... for the head that lost the most
  double needle_mass = 0.0;   // dense attention mass on the needle's tokens, mean over heads
  double needle_peak = 0.0;   // ... for the head that attends to the needle most
  double needle_read = 1.0;   // share of the needle's tokens the method read
  int worst = -1;             // the worst head's index
  // The worst head's three most attended positions that the layer did not read.
  struct Unread {
    int pos = 0;
    double p = 0;       // the worst head's dense probability there
    std::string piece;  // the token's text
  };
  std::vector<Unread> lost;
};

struct TraceStep {
  int pos = 0;                  // the decoded token's position
  int32_t token = 0;            // the token fed (dense's greedy choice before it)
  int32_t dense_next = 0, method_next = 0;  // each side's argmax after the step
  std::vector<std::string> pieces;          // text of token, dense_next, method_next
  double kl = 0;                // KL(dense || method) of the next-token distributions
  bool method_dense = false;    // the method's layers read the whole cache (e.g. dense-step)
  std::vector<TraceLayer> layers;
};

struct TraceResult {
  std::string method;
  int prompt_tokens = 0;
  int needle_begin = -1, needle_end = -1;  // token span of the answer in the prompt ([-1, -1): absent)
  std::string dense_text, method_text;     // greedy continuations, each on its own
  std::vector<TraceStep> steps;
};

TraceResult RunTrace(const TraceOptions& options);
// Prints the trace as a table (one line per step, the layers' figures side by side).
void PrintTrace(const TraceResult& trace, FILE* out);

}  // namespace chunkllm
