// Pieces shared by the task generators (task_generators.cpp, out_of_template.cpp,
// varied_retrieval.cpp): seeded value drawing, template filling, and the context builder that
// places needles at token depths inside filler or prose. Internal to src/tasks/.
#pragma once

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "tasks/task_generators.h"

namespace chunkllm::task_parts {

// Plain, distinct English words (keys, extraction words, word values).
const std::vector<std::string>& Words();
// n digits, the first non-zero.
std::string Digits(std::mt19937_64& rng, int n);
// Five random capital letters.
std::string UpperName(std::mt19937_64& rng);
// `n` distinct words of Words().
std::vector<std::string> PickWords(std::mt19937_64& rng, size_t n);
// Replaces every `slot` in `t` with `value`.
std::string Fill(std::string t, const std::string& slot, const std::string& value);
std::string Capitalised(std::string s);

template <size_t N>
const char* Pick(std::mt19937_64& rng, const char* const (&options)[N]) {
  return options[rng() % N];
}

// A context being assembled: filler sentences plus inserted needles at token depths. Pieces
// are counted on their own (a SentencePiece tokenizer adds the word-initial space itself, so
// this is their count inside the joined text; BPE counts may differ by a token per piece).
struct ContextBuilder {
  const TokenCounter& count;
  std::vector<std::string> pieces;
  std::vector<int> piece_tokens;
  int tokens = 0;

  void Add(const std::string& s);
  // Inserts `needle` at the piece boundary closest to depth * tokens.
  void Insert(double depth, const std::string& needle);
  std::string Text() const;
};

// Fills `b` with haystack sentences (from a random start, wrapping) up to `budget` tokens.
void FillProse(ContextBuilder& b, const Haystack& h, std::mt19937_64& rng, int budget);
// Fills `b` with RULER's uninformative passkey filler up to `budget` tokens.
void FillNoise(ContextBuilder& b, int budget);

// values[i] is written in needles[i]. While a value occurs in `prose` or in another value's
// needle, calls draw() (which refills both vectors), so that each answer occurs only where its
// needle puts it. Throws Error after 16 redraws, naming the task and its seed.
void RedrawAmbiguousValues(const TaskSpec& spec, const std::string& prose, const std::vector<std::string>& values,
                           const std::vector<std::string>& needles, const std::function<void()>& draw);

// Inserts needles[0] at `depth` and the others at uniformly drawn depths.
void InsertNeedles(ContextBuilder& b, std::mt19937_64& rng, double depth, const std::vector<std::string>& needles);

}  // namespace chunkllm::task_parts
