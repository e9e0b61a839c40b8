// Varied retrieval documents (varied_single, varied_multikey): the training mix that teaches a
// backbone to retrieve in any wording, not in one template. Every part of a document is drawn
// combinatorially: the needle's wording (opener x frame x determiner x closer), the noun it
// names, the value's kind (digits of 3-9, words, codes of random shapes), distractor needles with
// other nouns or other labels, the question's wording, the separator before it and the answer
// prefix. The haystack is real prose with numbers and names of its own.
//
// None of these wordings, nouns or labels is one of the out-of-template suite's
// (out_of_template.h): that suite stays a test of wordings the model never saw
// (tests/tasks/test_varied_retrieval.cpp checks every composed frame against it).
#pragma once

#include <random>
#include <string>
#include <vector>

#include "tasks/task_generators.h"

namespace chunkllm {

TaskRecord VariedRetrieval(const TaskSpec& spec, std::mt19937_64& rng, const Haystack& haystack,
                           const TokenCounter& count);

// Every wording the generator can compose, slots unfilled ({what} the noun, {What} capitalised,
// {label}, {v} the value): needles, questions and answer prefixes, labelled or not. The
// determiner and the opener are resolved, so each entry is one complete frame.
struct VariedRetrievalWordings {
  std::vector<std::string> frames;
  std::vector<std::string> nouns;
  std::vector<std::string> labels;  // the names and objects that label varied_multikey's needles
};
VariedRetrievalWordings VariedRetrievalWordingList();

}  // namespace chunkllm
