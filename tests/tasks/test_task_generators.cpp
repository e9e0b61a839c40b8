// Task generators: deterministic for a seed, the answers are in the context (for retrieval
// tasks) and recoverable from it (for the extraction tasks), lengths land near the target, and
// records survive a JSON round trip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "tasks/task_generators.h"
#include "test_util.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

std::string Prose() {
  std::string t;
  const char* s[] = {"The river ran quietly past the old mill at the edge of the village.",
                     "Every morning the baker opened his shutters before the sun came up.",
                     "Children walked to school along the muddy lane, laughing at the geese.",
                     "In winter the pond froze hard enough for the whole town to skate on it.",
                     "The schoolmaster kept a large brass bell on the corner of his desk."};
  for (int i = 0; i < 8; ++i)
    for (const char* x : s) t += std::string(x) + " ";
  return t;
}

class Generators : public ::testing::Test {
 protected:
  void SetUp() override {
    tok_ = Tokenizer::Load(test::VocabPath("llama-spm"));
    haystack_ = Haystack::FromTexts({Prose()});
  }
  int Count(const std::string& s) const { return int(tok_->Tokenize(s, false).size()); }
  TaskRecord Make(const std::string& task, int length, double depth, uint64_t seed) const {
    return GenerateTask({task, length, depth, seed}, haystack_, [this](const std::string& s) { return Count(s); });
  }
  std::unique_ptr<Tokenizer> tok_;
  Haystack haystack_;
};

TEST_F(Generators, DeterministicForASeedAndDifferentAcrossSeeds) {
  for (const auto& task : TaskNames()) {
    const TaskRecord a = Make(task, 512, 0.3, 11), b = Make(task, 512, 0.3, 11), c = Make(task, 512, 0.3, 12);
    EXPECT_EQ(ToJson(a), ToJson(b)) << task;
    EXPECT_NE(ToJson(a)["context"], ToJson(c)["context"]) << task;
  }
}

TEST_F(Generators, RetrievalAnswersAreInTheContextAndLengthsNearTarget) {
  for (const auto& task : TaskNames()) {
    for (int length : {256, 1024}) {
      for (double depth : {0.0, 0.5, 1.0}) {
        const TaskRecord r = Make(task, length, depth, 5);
        ASSERT_FALSE(r.answers.empty()) << task;
        if (task != "cwe" && task != "fwe") {
          for (const auto& a : r.answers) EXPECT_NE(r.context.find(a), std::string::npos) << task << " " << a;
        }
        const int n = Count(r.context);
        // Within one filler sentence (< 40 tokens) plus the needles of the task.
        EXPECT_GT(n, length - 64) << task << " length " << length;
        EXPECT_LT(n, length + 96) << task << " length " << length;
      }
    }
  }
}

TEST_F(Generators, NeedleDepthOrdersThePassKey) {
  const TaskRecord early = Make("passkey", 1024, 0.0, 3), late = Make("passkey", 1024, 1.0, 3);
  const size_t e = early.context.find(early.answers[0]), l = late.context.find(late.answers[0]);
  EXPECT_LT(double(e) / double(early.context.size()), 0.2);
  EXPECT_GT(double(l) / double(late.context.size()), 0.8);
}

// The out-of-template tasks vary what the classic ones fix. Over 60 seeds: several questions,
// answer prefixes, needle wordings (seen as the text just before the value) and all three value
// kinds (digits, two words, a code); the asked value occurs in the context exactly as often as
// its wording repeats it (the prose never holds it), at the requested depth; multikey's question
// names a label that its needle carries, among four.
TEST_F(Generators, OutOfTemplateTasksVaryTheirWordingAndKeepTheAnswerUnique) {
  for (const std::string task : {"oot_passkey", "oot_multikey"}) {
    std::set<std::string> questions, prefixes, before, kinds;
    for (uint64_t seed = 0; seed < 60; ++seed) {
      const TaskRecord r = Make(task, 512, 0.5, seed);
      ASSERT_EQ(r.answers.size(), 1u) << task;
      const std::string& v = r.answers[0];
      const size_t at = r.context.find(v);
      ASSERT_NE(at, std::string::npos) << task << " seed " << seed;
      size_t n = 0;
      for (size_t p = at; p != std::string::npos; p = r.context.find(v, p + 1)) ++n;
      // Only the classic wording ("The pass key is N. Remember it. N is the pass key.") says it twice.
      EXPECT_TRUE(n == 1 || (n == 2 && r.context.find("Remember it. " + v) != std::string::npos)) << task << " " << v;
      questions.insert(r.question), prefixes.insert(r.answer_prefix);
      before.insert(r.context.substr(at >= 6 ? at - 6 : 0, std::min<size_t>(at, 6)));
      const bool digits = std::all_of(v.begin(), v.end(), ::isdigit);
      const bool code = v.size() == 7 && v[2] == '-' && std::isupper(static_cast<unsigned char>(v[0]));
      kinds.insert(digits ? "digits" : code ? "code" : v.find(' ') != std::string::npos ? "words" : "other");
      if (task == "oot_multikey") {
        size_t labelled = 0;  // the labels of the four needles: capitalised names the question may ask for
        for (const char* l : {"Orion", "Maple", "Nadia", "Kestrel", "Tobias", "Juniper", "Ravel", "Sienna", "Harlow",
                              "Quentin", "Wren", "Ezra"}) {
          if (r.context.find(l) != std::string::npos) ++labelled;
          if (r.question.find(l) != std::string::npos) EXPECT_NE(r.context.find(l), std::string::npos) << l;
        }
        EXPECT_GE(labelled, 4u) << "seed " << seed;
      }
    }
    EXPECT_GE(questions.size(), 3u) << task;
    EXPECT_GE(prefixes.size(), 3u) << task;
    EXPECT_GE(before.size(), 3u) << task;
    EXPECT_EQ(kinds, (std::set<std::string>{"code", "digits", "words"})) << task;
  }
  const TaskRecord early = Make("oot_passkey", 1024, 0.0, 3), late = Make("oot_passkey", 1024, 1.0, 3);
  EXPECT_LT(double(early.context.find(early.answers[0])) / double(early.context.size()), 0.2);
  EXPECT_GT(double(late.context.find(late.answers[0])) / double(late.context.size()), 0.8);
}

TEST_F(Generators, ExtractionAnswersAreTheMostFrequentWords) {
  for (const std::string task : {"cwe", "fwe"}) {
    const TaskRecord r = Make(task, 1024, 0.0, 9);
    std::map<std::string, int> freq;
    std::istringstream words(r.context);
    for (std::string w; words >> w;) {
      if (!std::isdigit(static_cast<unsigned char>(w[0]))) ++freq[w];
    }
    int min_answer = 1 << 30, max_other = 0;
    for (const auto& [w, n] : freq) {
      const bool answer = std::find(r.answers.begin(), r.answers.end(), w) != r.answers.end();
      if (answer) min_answer = std::min(min_answer, n);
      else max_other = std::max(max_other, n);
    }
    EXPECT_GT(min_answer, max_other) << task;
  }
}

TEST_F(Generators, VariableTrackingChainsToTheValue) {
  const TaskRecord r = Make("vt", 512, 0.2, 4);
  ASSERT_EQ(r.answers.size(), 4u);
  // Each name after the first is bound to the previous one.
  for (size_t i = 1; i < r.answers.size(); ++i) {
    EXPECT_NE(r.context.find("VAR " + r.answers[i] + " = VAR " + r.answers[i - 1] + "."), std::string::npos);
  }
}

TEST_F(Generators, RecordsRoundTripThroughJsonAndBadRecordsAreNamed) {
  const TaskRecord r = Make("niah_multikey", 512, 0.4, 8);
  const TaskRecord back = TaskRecordFromJson(nlohmann::json::parse(ToJson(r).dump()), "line 1");
  EXPECT_EQ(ToJson(back), ToJson(r));
  nlohmann::json bad = ToJson(r);
  bad.erase("answers");
  try {
    TaskRecordFromJson(bad, "tasks.jsonl:3");
    FAIL() << "accepted a record without answers";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tasks.jsonl:3: missing field 'answers'"), std::string::npos) << e.what();
  }
  // "" is a substring of every prediction: a record with it would score any output 1.
  bad = ToJson(r);
  bad["answers"] = nlohmann::json::array({r.answers[0], ""});
  try {
    TaskRecordFromJson(bad, "tasks.jsonl:4");
    FAIL() << "accepted an empty answer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tasks.jsonl:4: field 'answers' holds an empty string"), std::string::npos)
        << e.what();
  }
  bad = ToJson(r);
  bad["max_new_tokens"] = "many";
  EXPECT_THROW(TaskRecordFromJson(bad, "x"), Error);
  EXPECT_THROW(Make("nosuchtask", 512, 0.5, 1), Error);
  EXPECT_THROW(Make("passkey", 512, 1.5, 1), Error);
}

}  // namespace
}  // namespace chunkllm
