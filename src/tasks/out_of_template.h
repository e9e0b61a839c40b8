// Out-of-template tasks (oot_passkey, oot_multikey): a test set of wordings that nothing is
// trained on. The needle, the question and the answer prefix are drawn from several wordings,
// the value from several kinds, and the haystack is real prose with numbers and names of its
// own, so a model that only learned one template's shape fails them.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "tasks/task_generators.h"

namespace chunkllm {

TaskRecord OutOfTemplate(const TaskSpec& spec, std::mt19937_64& rng, const Haystack& haystack,
                         const TokenCounter& count);

// Every wording frame of the out-of-template tasks, with their slots ({what}, {What}, {label},
// {v}) unfilled: needles, questions and answer prefixes, labelled or not. Training generators
// check against these so that the test set's wordings stay out of every training mix.
struct OutOfTemplateWordings {
  std::vector<std::string> frames;  // needles, questions, prefixes
  std::vector<std::string> nouns;   // the {what} nouns ("pass key", ...)
  std::vector<std::string> labels;  // the {label} names of oot_multikey
};
const OutOfTemplateWordings& OutOfTemplateWordingList();

}  // namespace chunkllm
