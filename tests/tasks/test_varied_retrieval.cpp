// The varied-wording training mix (varied_single, varied_multikey) and the out-of-template test
// set (oot_*) share no wording: no composed frame of the mix equals an out-of-template frame, no
// out-of-template phrase of four words or more occurs in a frame of the mix (three-word ones are
// plain English, such as "what is the"), and nouns and labels are disjoint. The generated
// documents vary what they claim to vary, hold their answer in one needle only, and ask about
// the needle placed at the spec's depth.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include "tasks/out_of_template.h"
#include "tasks/task_generators.h"
#include "tasks/varied_retrieval.h"
#include "test_util.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

// Out-of-template frames use {what}/{What}; the mix's frames use the same slot names, so two
// equal frames are equal strings.
std::string Lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The fixed phrases of a frame: its text between slots, cut at punctuation, lower-cased, with at
// least `min_words` words.
std::vector<std::string> FixedPhrases(const std::string& frame, size_t min_words) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    std::istringstream in(cur);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    if (words.size() >= min_words) {
      std::string p;
      for (const auto& w : words) p += (p.empty() ? "" : " ") + w;
      out.push_back(Lower(p));
    }
    cur.clear();
  };
  for (size_t i = 0; i < frame.size(); ++i) {
    if (frame[i] == '{') {
      flush();
      i = frame.find('}', i);
    } else if (std::ispunct(static_cast<unsigned char>(frame[i])) && frame[i] != '\'') {
      flush();
    } else {
      cur += frame[i];
    }
  }
  flush();
  return out;
}

TEST(VariedRetrieval, SharesNoWordingWithTheOutOfTemplateSuite) {
  const OutOfTemplateWordings& oot = OutOfTemplateWordingList();
  const VariedRetrievalWordings mix = VariedRetrievalWordingList();
  ASSERT_GT(mix.frames.size(), 2000u) << "the mix should compose thousands of wordings";
  std::set<std::string> oot_frames;
  for (const auto& f : oot.frames) oot_frames.insert(Lower(f));
  std::vector<std::string> oot_phrases;
  for (const auto& f : oot.frames) {
    for (const auto& p : FixedPhrases(f, 4)) oot_phrases.push_back(p);
  }
  ASSERT_GE(oot_phrases.size(), 6u);  // e.g. "somebody scribbled in the margin that the"
  for (const auto& f : mix.frames) {
    EXPECT_EQ(oot_frames.count(Lower(f)), 0u) << "the mix composes the test frame '" << f << "'";
    for (const auto& p : oot_phrases) {
      EXPECT_EQ(Lower(f).find(p), std::string::npos) << "mix frame '" << f << "' holds the test phrase '" << p << "'";
    }
  }
  for (const auto& n : mix.nouns) {
    for (const auto& t : oot.nouns) {
      EXPECT_EQ(Lower(n).find(Lower(t)), std::string::npos) << n << " / " << t;
      EXPECT_EQ(Lower(t).find(Lower(n)), std::string::npos) << n << " / " << t;
    }
  }
  for (const auto& l : mix.labels) {
    for (const auto& t : oot.labels) EXPECT_EQ(l.find(t), std::string::npos) << l << " / " << t;
  }
}

// Negative control for the check above: the phrase test does catch a test wording.
TEST(VariedRetrieval, ThePhraseCheckCatchesATestWording) {
  const std::vector<std::string> p = FixedPhrases("Somebody scribbled in the margin that the {what} was {v}.", 4);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], "somebody scribbled in the margin that the");
  EXPECT_TRUE(FixedPhrases("What is the {what}?", 4).empty());
}

std::string Prose() {
  std::string t;
  const char* s[] = {"The river ran quietly past the old mill at the edge of the village in 1874.",
                     "Every morning the baker opened his shutters before the sun came up.",
                     "Children walked to school along the muddy lane, laughing at the 12 geese.",
                     "In winter the pond froze hard enough for the whole town to skate on it.",
                     "The schoolmaster kept a large brass bell on the corner of desk 3."};
  for (int i = 0; i < 12; ++i)
    for (const char* x : s) t += std::string(x) + " ";
  return t;
}

class VariedDocs : public ::testing::Test {
 protected:
  void SetUp() override {
    tok_ = Tokenizer::Load(test::VocabPath("llama-spm"));
    haystack_ = Haystack::FromTexts({Prose()});
  }
  TaskRecord Make(const std::string& task, int length, double depth, uint64_t seed) const {
    return GenerateTask({task, length, depth, seed}, haystack_,
                        [this](const std::string& s) { return int(tok_->Tokenize(s, false).size()); });
  }
  std::unique_ptr<Tokenizer> tok_;
  Haystack haystack_;
};

// Where `what` occurs in `text`, first and last (npos if nowhere).
std::pair<size_t, size_t> FirstAndLast(const std::string& text, const std::string& what) {
  return {text.find(what), text.rfind(what)};
}

TEST_F(VariedDocs, VaryEveryPartAndHoldTheAnswerOnce) {
  for (const std::string task : {"varied_single", "varied_multikey"}) {
    std::set<std::string> questions, prefixes, separators;
    int digits = 0, words = 0, codes = 0;
    for (uint64_t seed = 0; seed < 120; ++seed) {
      const TaskRecord r = Make(task, 400, 0.5, seed);
      ASSERT_EQ(r.answers.size(), 1u);
      const std::string& a = r.answers[0];
      ASSERT_FALSE(a.empty());
      // The answer occurs in its own needle only (which may say it twice, "Again: {v}."): every
      // occurrence lies within one needle's length (< 160 characters) of the first.
      const auto [first, last] = FirstAndLast(r.context, a);
      ASSERT_NE(first, std::string::npos) << task << " seed " << seed;
      EXPECT_LT(last - first, 160u) << task << " seed " << seed << ": answer '" << a << "' also elsewhere";
      EXPECT_EQ(r.question.find(a), std::string::npos);
      questions.insert(r.question.substr(r.question.find_first_not_of("\n ")));
      prefixes.insert(r.answer_prefix);
      const bool all_digits = std::all_of(a.begin(), a.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
      const bool lower = std::islower(static_cast<unsigned char>(a[0]));
      digits += all_digits, words += lower, codes += !all_digits && !lower;
      separators.insert(r.question.substr(0, r.question.find_first_not_of("\n ")));
    }
    EXPECT_GE(questions.size(), 60u) << task;
    EXPECT_GE(prefixes.size(), task == "varied_single" ? 20u : 40u) << task;
    EXPECT_EQ(separators.size(), 3u) << task << ": separators before the question";
    EXPECT_GE(digits, 20) << task;
    EXPECT_GE(words, 10) << task;
    EXPECT_GE(codes, 10) << task;
  }
}

// The asked needle goes where the spec says: early at depth 0, late at depth 1.
TEST_F(VariedDocs, DepthPlacesTheAskedNeedle) {
  for (const std::string task : {"varied_single", "varied_multikey"}) {
    double early = 0, late = 0;
    const int n = 20;
    for (uint64_t seed = 0; seed < n; ++seed) {
      const TaskRecord e = Make(task, 1024, 0.0, seed), l = Make(task, 1024, 1.0, seed);
      early += double(e.context.find(e.answers[0])) / double(e.context.size()) / n;
      late += double(l.context.find(l.answers[0])) / double(l.context.size()) / n;
    }
    EXPECT_LT(early, 0.15) << task;
    EXPECT_GT(late, 0.85) << task;
  }
}

// varied_multikey asks one label among 2-5 labelled needles of the same noun: the asked label's
// needle holds the answer and the other labels' needles hold other values.
TEST_F(VariedDocs, MultikeyAsksOneLabelAmongSeveral) {
  const VariedRetrievalWordings mix = VariedRetrievalWordingList();
  int with_distractors = 0;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    const TaskRecord r = Make("varied_multikey", 600, 0.3, seed);
    int labels_in_context = 0;
    std::string asked;
    for (const auto& l : mix.labels) {
      if (r.context.find(l) != std::string::npos) ++labels_in_context;
      if (r.question.find(l) != std::string::npos && l.size() > asked.size()) asked = l;
    }
    ASSERT_FALSE(asked.empty()) << "seed " << seed << ": the question names no label: " << r.question;
    EXPECT_NE(r.context.find(asked), std::string::npos) << seed;
    with_distractors += labels_in_context >= 2;
  }
  EXPECT_GE(with_distractors, 55);
}

}  // namespace
}  // namespace chunkllm
