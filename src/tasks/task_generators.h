// Seeded generators for the long-context tasks of docs/evaluation.md (passkey, RULER-style needles,
// variable tracking, common/frequent word extraction, the out-of-template test set oot_*, and
// the varied-wording training mix varied_*). The same generators make the synthetic retrieval
// documents that the demo backbone is pretrained on (from training prose) and the evaluation
// samples (from held-out prose), so the two never share haystack text; oot_* is never trained on.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tasks/task_record.h"

namespace chunkllm {

// Sentences of real prose to build haystacks from.
class Haystack {
 public:
  // Reads every *.txt file of a directory (sorted by name) and splits it into sentences.
  static Haystack FromDirectory(const std::string& dir);
  static Haystack FromTexts(const std::vector<std::string>& texts);
  const std::vector<std::string>& sentences() const { return sentences_; }

 private:
  std::vector<std::string> sentences_;
};

// Counts the tokens of a piece of text (the model's tokenizer, without BOS).
using TokenCounter = std::function<int(const std::string&)>;

struct TaskSpec {
  std::string task;    // one of TaskNames()
  int length = 1024;   // target context length in tokens
  double depth = 0.5;  // where the (first) needle goes, in [0, 1]
  uint64_t seed = 0;
};

const std::vector<std::string>& TaskNames();

// Builds a record whose context is `length` tokens give or take one sentence. Deterministic
// for (spec, haystack). Throws Error for an unknown task or a haystack too small to fill.
TaskRecord GenerateTask(const TaskSpec& spec, const Haystack& haystack, const TokenCounter& count_tokens);

}  // namespace chunkllm
