#include "tasks/varied_retrieval.h"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <set>

#include "core/error.h"
#include "tasks/generator_parts.h"

namespace chunkllm {
namespace {

using namespace task_parts;

// Nouns a needle names (none of the out-of-template suite's: pass key, access code, ...).
const char* const kNouns[] = {
    "serial number",  "lock combination", "account number", "ticket number",  "order number",   "room number",
    "code word",      "PIN",              "locker number",  "badge number",   "licence number", "tracking number",
    "confirmation number", "key phrase",  "safe combination", "member ID",    "voucher code",   "batch number",
    "invoice number", "gate code",        "alarm code",     "case number",    "file number",    "seat number",
    "parcel number",  "product key",      "unlock code",    "station code",   "token",          "catalogue number"};

// Labels of varied_multikey's needles: people and objects (none of the suite's names).
const char* const kNames[] = {"Alice", "Bruno",  "Carmen", "Dmitri", "Elena", "Farid", "Greta", "Hugo",
                              "Ines",  "Jonas",  "Kiran",  "Lena",   "Marco", "Nina",  "Oscar", "Priya",
                              "Rosa",  "Stefan", "Tara",   "Umar",   "Vera",  "Xavier", "Yara", "Zane",
                              "Abel",  "Bianca", "Cyrus",  "Daria",  "Emil",  "Fiona", "Gideon", "Hana"};
const char* const kColours[] = {"red", "blue", "green", "grey", "white", "black", "yellow", "brown"};
const char* const kThings[] = {"folder", "box", "door", "van", "cabinet", "laptop", "bicycle", "team", "office", "crate"};

// A single needle: opener + frame (with {det}) + closer. Openers apply to frames that start
// with the determiner, so the sentence stays grammatical.
const char* const kOpeners[] = {"",           "Note that ",        "By the way, ",  "Incidentally, ", "Keep in mind that ",
                                "Important: ", "Also, ",           "As it happens, ", "One detail matters here: ",
                                "Just so you know, "};
const char* const kDeterminers[] = {"the", "our", "your", "the new", "the current", "the official"};
const char* const kFrames[] = {
    "{det} {what} is {v}.",
    "{det} {what} was {v}.",
    "{det} {what} has been set to {v}.",
    "{det} {what} is listed as {v}.",
    "{det} {what} reads {v}.",
    "{det} {what} to use is {v}.",
    "{det} {what} on file is {v}.",
    "{det} {what}, for the record, is {v}.",
    "{det} {what}? It is {v}.",
    "{v} is {det} {what}.",
    "They said {det} {what} would be {v}.",
    "{What} = {v}.",
    "[{what}: {v}]",
    "Do not lose {det} {what}: {v}.",
    "In the notes, {det} {what} appears as {v}.",
    "Everyone was told that {det} {what} is {v}."};
const char* const kClosers[] = {"", " Do not forget it.", " Keep it safe.", " Again: {v}.", " It will matter later.",
                                " That is all."};

// A labelled needle (varied_multikey): opener + frame; the determiner is "the".
const char* const kLabelledFrames[] = {
    "the {what} of {label} is {v}.",
    "{label} has the {what} {v}.",
    "As for {label}, the {what} is {v}.",
    "{label} was given the {what} {v}.",
    "{label}: {what} {v}.",
    "the {what} belonging to {label} is {v}.",
    "{label} wrote down {v} as the {what}.",
    "For {label} the {what} reads {v}.",
    "{v} is the {what} of {label}.",
    "Regarding {label}, {what} {v}."};

// Questions: a start and a tail; starts ending in '?' are questions, the rest requests.
const char* const kQuestionStarts[] = {"What was the {what}", "Which {what} was given", "Tell me the {what}",
                                       "Can you recall the {what}", "Please state the {what}", "Quote the {what}",
                                       "What {what} was written", "Name the {what}", "Do you remember the {what}",
                                       "What value did the {what} have"};
const char* const kLabelledQuestionStarts[] = {"What is the {what} of {label}", "Which {what} does {label} have",
                                               "Tell me {label}'s {what}", "What {what} was {label} given",
                                               "Please state the {what} for {label}",
                                               "Can you find the {what} that belongs to {label}"};
// Tails: where (any question) and, after a start that ends in a noun, how it was given.
const char* const kQuestionTails[] = {"", " in the text", " in the notes above", " in what you read",
                                      " mentioned earlier", " stated before", " from the passage above"};
constexpr size_t kPlaceTails = 4;  // the first four suit every start
const char* const kPrefixes[] = {" The {what} was",  " {What}:",      " The answer is", " Sure. The {what} is",
                                 " It was",          " That is",      " The {what} given is", " Reply:",
                                 " The text says",   " Here it is:",  " The value is"};
const char* const kLabelledPrefixes[] = {" The {what} of {label} is", " {label} has", " For {label}, it is",
                                         " The answer is", " {What} for {label}:", " {label}'s {what} reads"};
// What comes between the context and the question.
const char* const kSeparators[] = {"\n", "\n\n", " "};
// An optional first sentence that announces the task.
const char* const kHeaders[] = {"", "", "Read the following text carefully.",
                                "The notes below contain a detail you will be asked about.",
                                "Some of the text below matters; most of it does not."};

bool IsQuestion(const std::string& start) {
  const std::string first = start.substr(0, start.find(' '));
  return first == "What" || first == "Which" || first == "Can" || first == "Do";
}

std::string ComposeNeedle(size_t opener, size_t frame, size_t det, size_t closer) {
  std::string f = kFrames[frame];
  const bool starts_with_det = f.rfind("{det}", 0) == 0;
  f = Fill(f, "{det}", kDeterminers[det]);
  if (starts_with_det) f = kOpeners[opener] + f;
  return Capitalised(f) + kClosers[closer];
}

std::string ComposeLabelledNeedle(size_t opener, size_t frame) {
  std::string f = kLabelledFrames[frame];
  if (f.rfind("the ", 0) == 0) f = kOpeners[opener] + f;
  return Capitalised(f);
}

// Starts that end in a verb ("What X was given") take only the place tails.
bool EndsInNoun(const std::string& start) {
  for (const char* verb : {" given", " written", " have"}) {
    const std::string v = verb;
    if (start.size() >= v.size() && start.compare(start.size() - v.size(), v.size(), v) == 0) return false;
  }
  return true;
}

std::string ComposeQuestion(const char* start, size_t tail) {
  if (!EndsInNoun(start)) tail %= kPlaceTails;
  return std::string(start) + kQuestionTails[tail] + (IsQuestion(start) ? "?" : ".");
}

// A value of one of several kinds: digits (3-9), words (two, or a word and a number), or a code
// of one to three segments of letters or digits.
std::string DrawValue(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0:
    case 1: return Digits(rng, 3 + int(rng() % 7));
    case 2: {
      const auto w = PickWords(rng, 2);
      return rng() % 2 ? w[0] + " " + w[1] : w[0] + "-" + std::to_string(10 + rng() % 90);
    }
    default: {
      std::string c;
      const int segments = 1 + int(rng() % 3);
      for (int s = 0; s < segments; ++s) {
        if (s) c += "-";
        const int n = 2 + int(rng() % 3);
        const bool letters = (rng() % 2) || (segments == 1 && s == 0);
        for (int i = 0; i < n; ++i) c += letters ? char('A' + rng() % 26) : char('0' + rng() % 10);
      }
      return c;
    }
  }
}

std::string DrawLabel(std::mt19937_64& rng) {
  switch (rng() % 3) {
    case 0:
    case 1: return Pick(rng, kNames);
    default: return std::string("the ") + Pick(rng, kColours) + " " + Pick(rng, kThings);
  }
}

}  // namespace

TaskRecord VariedRetrieval(const TaskSpec& spec, std::mt19937_64& rng, const Haystack& h, const TokenCounter& count) {
  const bool multi = spec.task == "varied_multikey";
  // Nouns: [0] is asked; varied_single's distractor needles name the others.
  std::vector<std::string> nouns(std::begin(kNouns), std::end(kNouns));
  std::shuffle(nouns.begin(), nouns.end(), rng);
  std::vector<std::string> labels;
  const size_t n_needles = multi ? 2 + rng() % 4 : 1 + rng() % 4;  // multikey 2-5, single 1-4
  if (multi) {
    std::set<std::string> used;
    while (labels.size() < n_needles) {
      const std::string l = DrawLabel(rng);
      if (used.insert(l).second) labels.push_back(l);
    }
  }
  auto fill_slots = [](std::string t, const std::string& noun, const std::string& label) {
    return Fill(Fill(Fill(t, "{What}", Capitalised(noun)), "{what}", noun), "{label}", label);
  };
  // Each needle has its own wording; a labelled needle names the shared noun.
  std::vector<std::string> frames;
  for (size_t i = 0; i < n_needles; ++i) {
    if (multi) {
      frames.push_back(ComposeLabelledNeedle(rng() % std::size(kOpeners), rng() % std::size(kLabelledFrames)));
    } else {
      frames.push_back(ComposeNeedle(rng() % std::size(kOpeners), rng() % std::size(kFrames),
                                     rng() % std::size(kDeterminers), rng() % std::size(kClosers)));
    }
  }
  TaskRecord r;
  const std::string label0 = multi ? labels[0] : "";
  const std::string question =
      multi ? ComposeQuestion(Pick(rng, kLabelledQuestionStarts), rng() % std::size(kQuestionTails))
            : ComposeQuestion(Pick(rng, kQuestionStarts), rng() % std::size(kQuestionTails));
  r.question = Pick(rng, kSeparators) + Capitalised(fill_slots(question, nouns[0], label0));
  r.answer_prefix = fill_slots(multi ? Pick(rng, kLabelledPrefixes) : Pick(rng, kPrefixes), nouns[0], label0);
  const std::string header = Pick(rng, kHeaders);
  // values[i] goes into needles[i]; the first is the one asked for.
  std::vector<std::string> values, needles;
  auto draw = [&] {
    values.clear(), needles.clear();
    for (size_t i = 0; i < n_needles; ++i) {
      values.push_back(DrawValue(rng));
      const std::string& noun = multi ? nouns[0] : nouns[i];
      needles.push_back(Fill(fill_slots(frames[i], noun, multi ? labels[i] : ""), "{v}", values.back()));
    }
  };
  draw();
  int fixed_tokens = header.empty() ? 0 : count(header);
  for (const auto& n : needles) fixed_tokens += count(n);
  ContextBuilder b{count};
  FillProse(b, h, rng, spec.length - fixed_tokens);
  RedrawAmbiguousValues(spec, b.Text(), values, needles, draw);
  InsertNeedles(b, rng, spec.depth, needles);
  r.context = header.empty() ? b.Text() : header + " " + b.Text();
  r.answers = {values[0]};
  r.max_new_tokens = 16;
  return r;
}

VariedRetrievalWordings VariedRetrievalWordingList() {
  VariedRetrievalWordings w;
  for (size_t o = 0; o < std::size(kOpeners); ++o)
    for (size_t f = 0; f < std::size(kFrames); ++f)
      for (size_t d = 0; d < std::size(kDeterminers); ++d)
        for (size_t c = 0; c < std::size(kClosers); ++c) w.frames.push_back(ComposeNeedle(o, f, d, c));
  for (size_t o = 0; o < std::size(kOpeners); ++o)
    for (size_t f = 0; f < std::size(kLabelledFrames); ++f) w.frames.push_back(ComposeLabelledNeedle(o, f));
  for (size_t t = 0; t < std::size(kQuestionTails); ++t) {
    for (const char* s : kQuestionStarts) w.frames.push_back(Capitalised(ComposeQuestion(s, t)));
    for (const char* s : kLabelledQuestionStarts) w.frames.push_back(Capitalised(ComposeQuestion(s, t)));
  }
  w.frames.insert(w.frames.end(), std::begin(kPrefixes), std::end(kPrefixes));
  w.frames.insert(w.frames.end(), std::begin(kLabelledPrefixes), std::end(kLabelledPrefixes));
  // Duplicates (openers that do not apply to a frame) collapse.
  std::sort(w.frames.begin(), w.frames.end());
  w.frames.erase(std::unique(w.frames.begin(), w.frames.end()), w.frames.end());
  w.nouns.assign(std::begin(kNouns), std::end(kNouns));
  w.labels.assign(std::begin(kNames), std::end(kNames));
  for (const char* c : kColours)
    for (const char* t : kThings) w.labels.push_back(std::string("the ") + c + " " + t);
  return w;
}

}  // namespace chunkllm
