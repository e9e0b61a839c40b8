#include "tasks/task_generators.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <random>
#include <set>

#include "core/error.h"
#include "core/file_util.h"
#include "tasks/generator_parts.h"
#include "tasks/out_of_template.h"
#include "tasks/varied_retrieval.h"
#include "text/sentence_splitter.h"

namespace chunkllm {
namespace {

using namespace task_parts;

std::string MagicNeedle(const std::string& key, const std::string& value) {
  return "One of the special magic numbers for " + key + " is: " + value + ".";
}

TaskRecord Passkey(const TaskSpec& spec, std::mt19937_64& rng, const TokenCounter& count) {
  TaskRecord r;
  const std::string key = Digits(rng, 5);
  const std::string header =
      "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
      "I will quiz you about the important information there.";
  const std::string needle = "The pass key is " + key + ". Remember it. " + key + " is the pass key.";
  ContextBuilder b{count};
  FillNoise(b, spec.length - count(header) - count(needle));
  b.Insert(spec.depth, needle);
  r.context = header + " " + b.Text();
  r.question = "\nWhat is the pass key?";
  r.answer_prefix = " The pass key is";
  r.answers = {key};
  r.max_new_tokens = 8;
  return r;
}

TaskRecord Needles(const TaskSpec& spec, std::mt19937_64& rng, const Haystack& h, const TokenCounter& count) {
  TaskRecord r;
  const auto keys = PickWords(rng, 4);
  // Needles: (key, value) in insertion order; the first is placed at spec.depth.
  std::vector<std::pair<std::string, std::string>> needles;
  std::vector<std::string> query_keys;
  if (spec.task == "niah_single") {
    needles = {{keys[0], Digits(rng, 7)}};
    query_keys = {keys[0]};
  } else if (spec.task == "niah_multikey") {
    for (int i = 0; i < 4; ++i) needles.push_back({keys[size_t(i)], Digits(rng, 7)});
    query_keys = {keys[0]};  // the other three are distractors
  } else if (spec.task == "niah_multivalue") {
    for (int i = 0; i < 4; ++i) needles.push_back({keys[0], Digits(rng, 7)});
    query_keys = {keys[0]};
  } else {  // niah_multiquery
    for (int i = 0; i < 4; ++i) needles.push_back({keys[size_t(i)], Digits(rng, 7)});
    query_keys = {keys[0], keys[1]};
  }
  std::vector<std::string> texts;
  int needle_tokens = 0;
  for (const auto& [k, v] : needles) needle_tokens += count(texts.emplace_back(MagicNeedle(k, v)));
  ContextBuilder b{count};
  FillProse(b, h, rng, spec.length - needle_tokens);
  InsertNeedles(b, rng, spec.depth, texts);
  r.context = b.Text();
  for (const auto& [k, v] : needles) {
    if (std::find(query_keys.begin(), query_keys.end(), k) != query_keys.end()) r.answers.push_back(v);
  }
  if (spec.task == "niah_single" || spec.task == "niah_multikey") {
    r.question = "\nWhat is the special magic number for " + keys[0] + " mentioned in the provided text?";
    r.answer_prefix = " The special magic number for " + keys[0] + " mentioned in the provided text is";
    r.max_new_tokens = 12;
  } else {
    const std::string who = query_keys.size() == 1 ? query_keys[0] : query_keys[0] + " and " + query_keys[1];
    r.question = "\nWhat are all the special magic numbers for " + who + " mentioned in the provided text?";
    r.answer_prefix = " The special magic numbers for " + who + " mentioned in the provided text are";
    r.max_new_tokens = 48;
  }
  return r;
}

TaskRecord VariableTracking(const TaskSpec& spec, std::mt19937_64& rng, const TokenCounter& count) {
  TaskRecord r;
  const int hops = 4;
  const std::string value = Digits(rng, 5);
  std::set<std::string> used;
  auto fresh = [&] {
    std::string n;
    do n = UpperName(rng); while (!used.insert(n).second);
    return n;
  };
  std::vector<std::string> chain, decoy;
  for (int i = 0; i < hops; ++i) chain.push_back(fresh()), decoy.push_back(fresh());
  const std::string decoy_value = Digits(rng, 5);
  std::vector<std::string> statements;
  for (int i = 0; i < hops; ++i) {
    statements.push_back("VAR " + chain[size_t(i)] + " = " + (i ? "VAR " + chain[size_t(i) - 1] : value) + ".");
    statements.push_back("VAR " + decoy[size_t(i)] + " = " + (i ? "VAR " + decoy[size_t(i) - 1] : decoy_value) + ".");
  }
  int st_tokens = 0;
  for (const auto& s : statements) st_tokens += count(s);
  ContextBuilder b{count};
  FillNoise(b, spec.length - st_tokens);
  // The chain starts at `depth` and its later links follow in order, spread over the rest.
  for (size_t i = 0; i < statements.size(); ++i) {
    const double d = spec.depth + (1.0 - spec.depth) * double(i) / double(statements.size());
    b.Insert(std::min(1.0, d), statements[i]);
  }
  r.context = b.Text();
  r.question = "\nFind all variables that are assigned the value " + value + " in the text above.";
  r.answer_prefix = " According to the chain of variable assignments in the text above, " + std::to_string(hops) +
                    " variables are assigned the value " + value + ", they are:";
  r.answers = chain;
  r.max_new_tokens = 32;
  return r;
}

TaskRecord WordExtraction(const TaskSpec& spec, std::mt19937_64& rng, const TokenCounter& count) {
  TaskRecord r;
  const bool common = spec.task == "cwe";
  const std::vector<std::string> words = PickWords(rng, Words().size());
  const size_t n_top = common ? 10 : 3;
  // cwe: each top word 3x as likely as any other; fwe: the top three at Zipf-like 8x, 6x, 4x.
  std::vector<double> weight(words.size(), 1.0);
  for (size_t i = 0; i < n_top; ++i) weight[i] = common ? 3.0 : 8.0 - 2.0 * double(i);
  std::discrete_distribution<size_t> pick(weight.begin(), weight.end());
  std::map<std::string, int> word_tokens;
  for (const auto& w : words) word_tokens[w] = count(w);
  // Draw items until the measured length reaches the target (cwe items carry "N. ").
  std::vector<size_t> seq;
  for (int tokens = 0; tokens < spec.length;) {
    seq.push_back(pick(rng));
    tokens += word_tokens[words[seq.back()]] + (common ? count(std::to_string(seq.size()) + ".") : 0);
  }
  // Keep the answer well defined: every top word strictly more frequent than every other.
  // Replacing (not inserting) items keeps the length where it is.
  std::vector<int> freq(words.size(), 0);
  for (size_t w : seq) ++freq[w];
  for (size_t guard = 0; guard < seq.size(); ++guard) {
    const size_t weakest_top = size_t(std::min_element(freq.begin(), freq.begin() + long(n_top)) - freq.begin());
    const size_t strongest_rest = n_top + size_t(std::max_element(freq.begin() + long(n_top), freq.end()) -
                                                 (freq.begin() + long(n_top)));
    if (freq[weakest_top] > freq[strongest_rest]) break;
    *std::find(seq.begin(), seq.end(), strongest_rest) = weakest_top;
    --freq[strongest_rest], ++freq[weakest_top];
  }
  std::string text;
  for (size_t i = 0; i < seq.size(); ++i) {
    text += (common ? std::to_string(i + 1) + ". " : std::string()) + words[seq[i]] + " ";
  }
  text.pop_back();
  r.context = text;
  if (common) {
    r.question = "\nWhat are the 10 most common words in the above list?";
    r.answer_prefix = " The top 10 words that appear most often in the list are:";
    r.max_new_tokens = 64;
  } else {
    r.question = "\nWhat are the three most frequently appeared words in the above text?";
    r.answer_prefix = " The three most frequently appeared words are:";
    r.max_new_tokens = 24;
  }
  r.answers.assign(words.begin(), words.begin() + long(n_top));
  return r;
}

}  // namespace

Haystack Haystack::FromTexts(const std::vector<std::string>& texts) {
  Haystack h;
  for (const auto& t : texts) {
    for (const SentenceSpan& s : SplitSentences(t)) {
      std::string sentence = t.substr(s.begin, s.end - s.begin);
      std::replace(sentence.begin(), sentence.end(), '\n', ' ');
      if (sentence.size() >= 20 && sentence.size() <= 600) h.sentences_.push_back(std::move(sentence));
    }
  }
  return h;
}

Haystack Haystack::FromDirectory(const std::string& dir) {
  std::vector<std::string> texts;
  for (const auto& f : ListTextFiles({dir})) texts.push_back(ReadTextFile(f));
  return FromTexts(texts);
}

const std::vector<std::string>& TaskNames() {
  static const std::vector<std::string> names = {"passkey",         "niah_single",     "niah_multikey",
                                                 "niah_multivalue", "niah_multiquery", "vt",
                                                 "cwe",             "fwe",             "oot_passkey",
                                                 "oot_multikey",    "varied_single",   "varied_multikey"};
  return names;
}

TaskRecord GenerateTask(const TaskSpec& spec, const Haystack& haystack, const TokenCounter& count_tokens) {
  const auto& names = TaskNames();
  if (std::find(names.begin(), names.end(), spec.task) == names.end()) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    Fail("unknown task '", spec.task, "' (known: ", known, ")");
  }
  if (spec.depth < 0.0 || spec.depth > 1.0) Fail("task depth must be in [0, 1], got ", spec.depth);
  if (spec.length < 64) Fail("task length must be at least 64 tokens, got ", spec.length);
  // The seed and the spec together pick every random choice.
  std::seed_seq seq{uint32_t(spec.seed), uint32_t(spec.seed >> 32), uint32_t(spec.length),
                    uint32_t(spec.depth * 1e6), uint32_t(std::hash<std::string>{}(spec.task))};
  std::mt19937_64 rng(seq);
  TaskRecord r;
  if (spec.task == "passkey") {
    r = Passkey(spec, rng, count_tokens);
  } else if (spec.task.rfind("niah_", 0) == 0) {
    r = Needles(spec, rng, haystack, count_tokens);
  } else if (spec.task.rfind("oot_", 0) == 0) {
    r = OutOfTemplate(spec, rng, haystack, count_tokens);
  } else if (spec.task.rfind("varied_", 0) == 0) {
    r = VariedRetrieval(spec, rng, haystack, count_tokens);
  } else if (spec.task == "vt") {
    r = VariableTracking(spec, rng, count_tokens);
  } else {
    r = WordExtraction(spec, rng, count_tokens);
  }
  r.task = spec.task;
  r.length = spec.length;
  r.depth = spec.depth;
  r.seed = spec.seed;
  return r;
}

}  // namespace chunkllm
