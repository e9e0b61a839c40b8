#include "tasks/task_generators.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <random>
#include <set>

#include "core/error.h"
#include "core/file_util.h"
#include "text/sentence_splitter.h"

namespace chunkllm {
namespace {

// Keys and extraction words: plain, distinct English words.
const std::vector<std::string>& Words() {
  static const std::vector<std::string> w = {
      "apple", "river", "candle", "garden", "silver", "window", "forest", "harbor", "pencil", "mirror",
      "thunder", "meadow", "lantern", "castle", "pepper", "ribbon", "marble", "saddle", "valley", "copper",
      "feather", "anchor", "basket", "button", "carpet", "cherry", "cotton", "dragon", "falcon", "ginger",
      "hammer", "island", "jacket", "kettle", "ladder", "magnet", "needle", "orange", "parrot", "pillow",
      "rabbit", "rocket", "salmon", "tablet", "tunnel", "velvet", "wallet", "walnut", "zipper", "bridge",
      "blanket", "compass", "diamond", "engine", "fountain", "glacier", "helmet", "insect", "jungle", "kitten",
      "lemon", "monkey", "napkin", "oyster", "planet", "quartz", "rubber", "spider", "tomato", "violin",
      "whistle", "yogurt", "bamboo", "cactus", "donkey", "eagle", "fabric", "guitar", "honey", "iris",
      "jelly", "koala", "lizard", "mango", "nickel", "olive", "pirate", "quiver", "raven", "shadow",
      "tiger", "umbrella", "vessel", "wizard", "badge", "cabin", "desert", "ember", "flute", "grape"};
  return w;
}

// RULER's passkey filler: deliberately uninformative.
const char* kNoise = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

std::string Digits(std::mt19937_64& rng, int n) {
  std::string s;
  s += char('1' + rng() % 9);
  while (int(s.size()) < n) s += char('0' + rng() % 10);
  return s;
}

std::string UpperName(std::mt19937_64& rng) {
  std::string s;
  for (int i = 0; i < 5; ++i) s += char('A' + rng() % 26);
  return s;
}

// Picks `n` distinct words.
std::vector<std::string> PickWords(std::mt19937_64& rng, size_t n) {
  std::vector<std::string> all = Words();
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(std::min(n, all.size()));
  return all;
}

// A context being assembled: filler sentences plus inserted needles at token depths. Pieces
// are counted on their own (a SentencePiece tokenizer adds the word-initial space itself, so
// this is their count inside the joined text; BPE counts may differ by a token per piece).
struct ContextBuilder {
  const TokenCounter& count;
  std::vector<std::string> pieces;
  std::vector<int> piece_tokens;
  int tokens = 0;

  void Add(const std::string& s) {
    pieces.push_back(s);
    piece_tokens.push_back(count(s));
    tokens += piece_tokens.back();
  }
  // Inserts `needle` at the piece boundary closest to depth * tokens.
  void Insert(double depth, const std::string& needle) {
    const int target = int(depth * tokens);
    size_t at = 0;
    for (int acc = 0; at < pieces.size() && acc + piece_tokens[at] / 2 < target; ++at) acc += piece_tokens[at];
    pieces.insert(pieces.begin() + long(at), needle);
    piece_tokens.insert(piece_tokens.begin() + long(at), count(needle));
    tokens += piece_tokens[at];
  }
  std::string Text() const {
    std::string s;
    for (const auto& p : pieces) s += (s.empty() ? "" : " ") + p;
    return s;
  }
};

// Fills `b` with haystack sentences (from a random start, wrapping) up to `budget` tokens.
void FillProse(ContextBuilder& b, const Haystack& h, std::mt19937_64& rng, int budget) {
  const auto& s = h.sentences();
  if (s.size() < 16) Fail("the haystack has only ", s.size(), " sentences; it needs real prose documents");
  size_t i = rng() % s.size();
  for (size_t n = 0; b.tokens < budget; ++n, i = (i + 1) % s.size()) {
    if (n > s.size() * 4) Fail("the haystack cannot fill ", budget, " tokens");
    b.Add(s[i]);
  }
}

void FillNoise(ContextBuilder& b, int budget) {
  while (b.tokens < budget) b.Add(kNoise);
}

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
  int needle_tokens = 0;
  for (const auto& [k, v] : needles) needle_tokens += count(MagicNeedle(k, v));
  ContextBuilder b{count};
  FillProse(b, h, rng, spec.length - needle_tokens);
  b.Insert(spec.depth, MagicNeedle(needles[0].first, needles[0].second));
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  for (size_t i = 1; i < needles.size(); ++i) b.Insert(uni(rng), MagicNeedle(needles[i].first, needles[i].second));
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

// Out-of-template tasks (oot_passkey, oot_multikey): the needle, the question and the answer
// prefix are drawn from several wordings, the value from several kinds, and the haystack is real
// prose with numbers and names of its own, so a model that only learned one template's shape
// fails them. These wordings are for evaluation only: keep them out of every training mix.
std::string OotValue(std::mt19937_64& rng) {
  switch (rng() % 3) {
    case 0: return Digits(rng, 5 + int(rng() % 3));  // 5-7 digits
    case 1: {
      const auto w = PickWords(rng, 2);
      return w[0] + " " + w[1];  // two words
    }
    default: {  // a code: two letters, a dash, four digits
      std::string c;
      for (int i = 0; i < 2; ++i) c += char('A' + rng() % 26);
      return c + "-" + Digits(rng, 4);
    }
  }
}

std::string Fill(std::string t, const std::string& slot, const std::string& value) {
  for (size_t at = t.find(slot); at != std::string::npos; at = t.find(slot, at + value.size())) {
    t.replace(at, slot.size(), value);
  }
  return t;
}

std::string Capitalised(std::string s) {
  if (!s.empty()) s[0] = char(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

template <size_t N>
const char* Pick(std::mt19937_64& rng, const char* const (&options)[N]) {
  return options[rng() % N];
}

TaskRecord OutOfTemplate(const TaskSpec& spec, std::mt19937_64& rng, const Haystack& h, const TokenCounter& count) {
  static const char* const kWhat[] = {"pass key", "access code", "secret number", "password", "reference code",
                                      "verification code"};
  static const char* const kLabels[] = {"Orion", "Maple", "Nadia", "Kestrel", "Tobias", "Juniper", "Ravel", "Sienna",
                                        "Harlow", "Quentin", "Wren", "Ezra"};
  static const char* const kNeedle[] = {
      "The {what} is {v}. Remember it. {v} is the {what}.",
      "Please note: the {what} is {v}.",
      "({What}: {v}.)",
      "Write this down somewhere safe, because the {what} you will need later is {v}.",
      "Somebody scribbled in the margin that the {what} was {v}.",
      "{v}: that is the {what}, and it will be asked for at the end."};
  static const char* const kQuestion[] = {"What is the {what}?", "Which {what} was mentioned in the text above?",
                                          "Recall the {what} given in the document.",
                                          "According to the text, what was the {what}?"};
  static const char* const kPrefix[] = {" The {what} is", " Answer:", " It is"};
  static const char* const kLabelled[] = {"The {what} for {label} is {v}.", "{label}'s {what} is {v}.",
                                          "For {label}, use the {what} {v}.",
                                          "The {what} assigned to {label} reads {v}."};
  static const char* const kLabelledQuestion[] = {"What is the {what} for {label}?", "Which {what} belongs to {label}?",
                                                  "Give the {what} of {label} from the text."};
  static const char* const kLabelledPrefix[] = {" The {what} for {label} is", " Answer:", " {label}'s {what} is"};
  const bool multi = spec.task == "oot_multikey";
  const std::string what = Pick(rng, kWhat);
  std::vector<std::string> labels(std::begin(kLabels), std::end(kLabels));
  std::shuffle(labels.begin(), labels.end(), rng);
  labels.resize(multi ? 4 : 1);
  const std::string needle = multi ? Pick(rng, kLabelled) : Pick(rng, kNeedle);
  auto fill = [&](const std::string& t, const std::string& label) {
    return Fill(Fill(Fill(t, "{What}", Capitalised(what)), "{what}", what), "{label}", label);
  };
  TaskRecord r;
  r.question = "\n" + fill(multi ? Pick(rng, kLabelledQuestion) : Pick(rng, kQuestion), labels[0]);
  r.answer_prefix = fill(multi ? Pick(rng, kLabelledPrefix) : Pick(rng, kPrefix), labels[0]);
  // values[i] goes into needles[i]; the first is the one asked for.
  std::vector<std::string> values, needles;
  auto draw = [&] {
    values.clear(), needles.clear();
    for (const std::string& label : labels) {
      values.push_back(OotValue(rng));
      needles.push_back(Fill(fill(needle, label), "{v}", values.back()));
    }
  };
  draw();
  int needle_tokens = 0;
  for (const auto& n : needles) needle_tokens += count(n);
  ContextBuilder b{count};
  FillProse(b, h, rng, spec.length - needle_tokens);
  // The answer must occur only where the needles put it: redraw values the prose (or another
  // needle) already holds. The needles' token counts move by a few tokens at most.
  const std::string prose = b.Text();
  auto ambiguous = [&] {
    for (size_t i = 0; i < values.size(); ++i) {
      if (prose.find(values[i]) != std::string::npos) return true;
      for (size_t k = 0; k < needles.size(); ++k)
        if (k != i && needles[k].find(values[i]) != std::string::npos) return true;
    }
    return false;
  };
  for (int attempt = 0; ambiguous(); ++attempt) {
    if (attempt == 16) Fail("task ", spec.task, " (seed ", spec.seed, "): no value found that the haystack lacks");
    draw();
  }
  b.Insert(spec.depth, needles[0]);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  for (size_t i = 1; i < needles.size(); ++i) b.Insert(uni(rng), needles[i]);
  r.context = b.Text();
  r.answers = {values[0]};
  r.max_new_tokens = 16;
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
                                                 "oot_multikey"};
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
