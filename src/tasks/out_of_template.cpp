#include "tasks/out_of_template.h"

#include <algorithm>
#include <iterator>

#include "core/error.h"
#include "tasks/generator_parts.h"

namespace chunkllm {
namespace {

using namespace task_parts;

// These wordings are for evaluation only: keep them out of every training mix
// (PretrainData refuses oot_* tasks; tests/tasks check the training wordings against them).
const char* const kWhat[] = {"pass key", "access code", "secret number", "password", "reference code",
                                    "verification code"};
const char* const kLabels[] = {"Orion", "Maple", "Nadia", "Kestrel", "Tobias", "Juniper", "Ravel", "Sienna",
                                      "Harlow", "Quentin", "Wren", "Ezra"};
const char* const kNeedle[] = {
    "The {what} is {v}. Remember it. {v} is the {what}.",
    "Please note: the {what} is {v}.",
    "({What}: {v}.)",
    "Write this down somewhere safe, because the {what} you will need later is {v}.",
    "Somebody scribbled in the margin that the {what} was {v}.",
    "{v}: that is the {what}, and it will be asked for at the end."};
const char* const kQuestion[] = {"What is the {what}?", "Which {what} was mentioned in the text above?",
                                        "Recall the {what} given in the document.",
                                        "According to the text, what was the {what}?"};
const char* const kPrefix[] = {" The {what} is", " Answer:", " It is"};
const char* const kLabelled[] = {"The {what} for {label} is {v}.", "{label}'s {what} is {v}.",
                                        "For {label}, use the {what} {v}.",
                                        "The {what} assigned to {label} reads {v}."};
const char* const kLabelledQuestion[] = {"What is the {what} for {label}?", "Which {what} belongs to {label}?",
                                                "Give the {what} of {label} from the text."};
const char* const kLabelledPrefix[] = {" The {what} for {label} is", " Answer:", " {label}'s {what} is"};

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


}  // namespace

TaskRecord OutOfTemplate(const TaskSpec& spec, std::mt19937_64& rng, const Haystack& h, const TokenCounter& count) {
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
  // (A redraw moves the needles' token counts by a few tokens at most.)
  RedrawAmbiguousValues(spec, b.Text(), values, needles, draw);
  InsertNeedles(b, rng, spec.depth, needles);
  r.context = b.Text();
  r.answers = {values[0]};
  r.max_new_tokens = 16;
  return r;
}

const OutOfTemplateWordings& OutOfTemplateWordingList() {
  static const OutOfTemplateWordings w = [] {
    OutOfTemplateWordings o;
    auto add = [&](auto const& arr) { o.frames.insert(o.frames.end(), std::begin(arr), std::end(arr)); };
    add(kNeedle), add(kQuestion), add(kPrefix), add(kLabelled), add(kLabelledQuestion), add(kLabelledPrefix);
    o.nouns.assign(std::begin(kWhat), std::end(kWhat));
    o.labels.assign(std::begin(kLabels), std::end(kLabels));
    return o;
  }();
  return w;
}

}  // namespace chunkllm
