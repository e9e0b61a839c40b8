// Sentence splitter tests. Every expected sentence list is written by hand from the rules in
// text/sentence_splitter.h; most cases would fail on a naive "split after . ? !" splitter.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "text/sentence_splitter.h"

namespace chunkllm {
namespace {

using Sentences = std::vector<std::string>;

bool IsUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }
bool IsAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Splits and checks the span contract: ordered, non-empty, trimmed, on UTF-8 character boundaries.
Sentences Split(std::string_view text) {
  Sentences sentences;
  size_t previous_end = 0;
  for (const SentenceSpan& span : SplitSentences(text)) {
    EXPECT_LE(previous_end, span.begin);
    EXPECT_LT(span.begin, span.end);
    EXPECT_LE(span.end, text.size());
    if (span.begin >= span.end || span.end > text.size()) break;
    EXPECT_FALSE(IsAsciiSpace(text[span.begin]));
    EXPECT_FALSE(IsAsciiSpace(text[span.end - 1]));
    EXPECT_FALSE(IsUtf8Continuation(text[span.begin]));
    EXPECT_TRUE(span.end == text.size() || !IsUtf8Continuation(text[span.end])) << "cut inside a UTF-8 character";
    sentences.emplace_back(text.substr(span.begin, span.end - span.begin));
    previous_end = span.end;
  }
  return sentences;
}

TEST(SentenceSplitter, PlainSentences) {
  EXPECT_EQ(Split("Hello world. How are you? I am fine!"), (Sentences{"Hello world.", "How are you?", "I am fine!"}));
  EXPECT_EQ(Split("no punctuation here"), (Sentences{"no punctuation here"}));
}

TEST(SentenceSplitter, EmptyAndWhitespaceOnlyTextHasNoSentence) {
  EXPECT_TRUE(SplitSentences("").empty());
  EXPECT_TRUE(SplitSentences("  \n\t \r\n ").empty());
}

TEST(SentenceSplitter, SpansExcludeSurroundingWhitespace) {
  const std::vector<SentenceSpan> spans = SplitSentences("  Hi there.  Bye.  ");
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].begin, 2u);
  EXPECT_EQ(spans[0].end, 11u);
  EXPECT_EQ(spans[1].begin, 13u);
  EXPECT_EQ(spans[1].end, 17u);
}

TEST(SentenceSplitter, TitlesNeverEndASentence) {
  EXPECT_EQ(Split("Mr. Smith met Dr. Jones and Mrs. Brown. They talked."),
            (Sentences{"Mr. Smith met Dr. Jones and Mrs. Brown.", "They talked."}));
  EXPECT_EQ(Split("Prof. White visited St. Louis. It rained."),
            (Sentences{"Prof. White visited St. Louis.", "It rained."}));
}

TEST(SentenceSplitter, LatinAbbreviationsContinue) {
  EXPECT_EQ(Split("Bring fruit, e.g. apples, i.e. something sweet. Use a knife vs. a spoon."),
            (Sentences{"Bring fruit, e.g. apples, i.e. something sweet.", "Use a knife vs. a spoon."}));
  EXPECT_EQ(Split("Some fruits, e.g. Apples and Pears, are sweet."),
            (Sentences{"Some fruits, e.g. Apples and Pears, are sweet."}));
  EXPECT_EQ(Split("The case Roe v. Wade was decided. It mattered."),
            (Sentences{"The case Roe v. Wade was decided.", "It mattered."}));
}

TEST(SentenceSplitter, EtcEndsASentenceBeforeACapitalisedWord) {
  EXPECT_EQ(Split("I bought apples, pears, etc. Then I went home."),
            (Sentences{"I bought apples, pears, etc.", "Then I went home."}));
  EXPECT_EQ(Split("We sell apples, pears, etc. Mary buys them."),
            (Sentences{"We sell apples, pears, etc.", "Mary buys them."}));
  EXPECT_EQ(Split("We sell apples, pears, etc. and more."), (Sentences{"We sell apples, pears, etc. and more."}));
  EXPECT_EQ(Split("Tools (hammers, saws, etc.) are cheap."), (Sentences{"Tools (hammers, saws, etc.) are cheap."}));
}

TEST(SentenceSplitter, NameLikeAbbreviationsEndOnlyBeforeASentenceStarter) {
  EXPECT_EQ(Split("He moved to the U.S. He liked it."), (Sentences{"He moved to the U.S.", "He liked it."}));
  EXPECT_EQ(Split("The U.S. Army is large."), (Sentences{"The U.S. Army is large."}));
  EXPECT_EQ(Split("She works at Acme Inc. The company is big."),
            (Sentences{"She works at Acme Inc.", "The company is big."}));
  EXPECT_EQ(Split("Martin Luther King Jr. was born in 1929. He was a pastor."),
            (Sentences{"Martin Luther King Jr. was born in 1929.", "He was a pastor."}));
  EXPECT_EQ(Split("We met at 5 p.m. The talk ran until 7 p.m. yesterday."),
            (Sentences{"We met at 5 p.m.", "The talk ran until 7 p.m. yesterday."}));
  EXPECT_EQ(Split("She has a Ph.D. in physics. However, she paints."),
            (Sentences{"She has a Ph.D. in physics.", "However, she paints."}));
  EXPECT_EQ(Split("Smith et al. (2020) agree. Jones et al. It is settled."),
            (Sentences{"Smith et al. (2020) agree.", "Jones et al.", "It is settled."}));
}

TEST(SentenceSplitter, MonthAbbreviations) {
  EXPECT_EQ(Split("It opened on Jan. 5, 2020. Sales began in Feb. The results were good."),
            (Sentences{"It opened on Jan. 5, 2020.", "Sales began in Feb.", "The results were good."}));
}

TEST(SentenceSplitter, AbbreviationsAreCaseSensitive) {
  // "sat" is not "Sat." (Saturday): after an ordinary word any capitalised word starts a sentence.
  EXPECT_EQ(Split("The cat sat. Mary laughed."), (Sentences{"The cat sat.", "Mary laughed."}));
}

TEST(SentenceSplitter, NumberPrefixesContinueOnlyBeforeANumber) {
  EXPECT_EQ(Split("See Fig. 3 and No. 5 on pp. 10-12. It is clear."),
            (Sentences{"See Fig. 3 and No. 5 on pp. 10-12.", "It is clear."}));
  EXPECT_EQ(Split("Read Vol. II of the set. Ch. 4 is best."),
            (Sentences{"Read Vol. II of the set.", "Ch. 4 is best."}));
  EXPECT_EQ(Split("Was it red? No. It was blue."), (Sentences{"Was it red?", "No.", "It was blue."}));
  EXPECT_EQ(Split("He said no. Then he left."), (Sentences{"He said no.", "Then he left."}));
}

TEST(SentenceSplitter, DecimalsAndNumbersDoNotSplit) {
  EXPECT_EQ(Split("Pi is 3.14 roughly. It costs $1.5 million. The total was 1,000.50 dollars."),
            (Sentences{"Pi is 3.14 roughly.", "It costs $1.5 million.", "The total was 1,000.50 dollars."}));
  EXPECT_EQ(Split("Add .5 liters of water."), (Sentences{"Add .5 liters of water."}));
  EXPECT_EQ(Split("The answer is 42. That is all."), (Sentences{"The answer is 42.", "That is all."}));
}

TEST(SentenceSplitter, VersionsAndAddressesDoNotSplit) {
  EXPECT_EQ(Split("Upgrade to v1.2.3 now. The server at 10.0.0.1 answered. Python 3.12 is out."),
            (Sentences{"Upgrade to v1.2.3 now.", "The server at 10.0.0.1 answered.", "Python 3.12 is out."}));
  EXPECT_EQ(Split("We shipped version 2.0. Next comes 2.1."),
            (Sentences{"We shipped version 2.0.", "Next comes 2.1."}));
}

TEST(SentenceSplitter, Initials) {
  EXPECT_EQ(Split("J. R. R. Tolkien wrote books. George W. Bush was president."),
            (Sentences{"J. R. R. Tolkien wrote books.", "George W. Bush was president."}));
  EXPECT_EQ(Split("He took vitamin C. The cold went away."), (Sentences{"He took vitamin C.", "The cold went away."}));
}

TEST(SentenceSplitter, EllipsesEndASentenceOnlyBeforeACapital) {
  EXPECT_EQ(Split("Wait... what?"), (Sentences{"Wait... what?"}));
  EXPECT_EQ(Split("He paused... Then he left."), (Sentences{"He paused...", "Then he left."}));
  EXPECT_EQ(Split("He paused… Then he left."), (Sentences{"He paused…", "Then he left."}));
  EXPECT_EQ(Split("Well… maybe."), (Sentences{"Well… maybe."}));
  EXPECT_EQ(Split("He paused. . . Then he left."), (Sentences{"He paused. . .", "Then he left."}));
}

TEST(SentenceSplitter, ClosingQuotesAndBracketsStayWithTheSentence) {
  EXPECT_EQ(Split("He said \"Stop.\" Then he left."), (Sentences{"He said \"Stop.\"", "Then he left."}));
  EXPECT_EQ(Split("(See below.) Next we go."), (Sentences{"(See below.)", "Next we go."}));
  EXPECT_EQ(Split("\"Really?\" she asked."), (Sentences{"\"Really?\" she asked."}));
  EXPECT_EQ(Split("He said \"Stop.\" and left."), (Sentences{"He said \"Stop.\" and left."}));
  EXPECT_EQ(Split("He called it \"perfect\". Nobody agreed."),
            (Sentences{"He called it \"perfect\".", "Nobody agreed."}));
  EXPECT_EQ(Split("\"Hello.\" \"Goodbye.\""), (Sentences{"\"Hello.\"", "\"Goodbye.\""}));
}

TEST(SentenceSplitter, CurlyQuotes) {
  // “ ” ‘ ’ are three bytes each; the closing one belongs to the sentence that ends.
  EXPECT_EQ(Split("She said “Go home.” Then she left."), (Sentences{"She said “Go home.”", "Then she left."}));
  EXPECT_EQ(Split("He wrote ‘Done.’ It was late."), (Sentences{"He wrote ‘Done.’", "It was late."}));
  EXPECT_EQ(Split("“Really?” she asked."), (Sentences{"“Really?” she asked."}));
}

TEST(SentenceSplitter, QuestionAndExclamationCombos) {
  EXPECT_EQ(Split("What?! No way!! Really? Yes!"), (Sentences{"What?!", "No way!!", "Really?", "Yes!"}));
  EXPECT_EQ(Split("Yahoo! is a company."), (Sentences{"Yahoo! is a company."}));
}

TEST(SentenceSplitter, NumberedAndLetteredListItems) {
  EXPECT_EQ(Split("1. First item\n2. Second item\n3. Third item"),
            (Sentences{"1. First item", "2. Second item", "3. Third item"}));
  EXPECT_EQ(Split("a) foo\nb) bar"), (Sentences{"a) foo", "b) bar"}));
  EXPECT_EQ(Split("(i) alpha\n(ii) beta\niv. gamma"), (Sentences{"(i) alpha", "(ii) beta", "iv. gamma"}));
  EXPECT_EQ(Split("Steps:\n1. Mix the flour. Add water.\n2. Bake it"),
            (Sentences{"Steps:", "1. Mix the flour.", "Add water.", "2. Bake it"}));
}

TEST(SentenceSplitter, BulletItems) {
  EXPECT_EQ(Split("- x\n- y\nThen text continues."), (Sentences{"- x", "- y", "Then text continues."}));
  EXPECT_EQ(Split("* one\n• two"), (Sentences{"* one", "• two"}));
  // An indented line continues the item above it.
  EXPECT_EQ(Split("- a long item\n  that wraps\n- next"), (Sentences{"- a long item\n  that wraps", "- next"}));
}

TEST(SentenceSplitter, InitialAtLineStartIsNotAListItem) {
  EXPECT_EQ(Split("The author is\nA. Smith and he wrote it."), (Sentences{"The author is\nA. Smith and he wrote it."}));
}

TEST(SentenceSplitter, BlankLineAlwaysEndsASentence) {
  EXPECT_EQ(Split("First paragraph without period\n\nSecond paragraph"),
            (Sentences{"First paragraph without period", "Second paragraph"}));
  EXPECT_EQ(Split("One\r\n \r\nTwo"), (Sentences{"One", "Two"}));
  EXPECT_EQ(Split("Talk to Mr.\n\nSmith"), (Sentences{"Talk to Mr.", "Smith"}));
}

TEST(SentenceSplitter, SingleNewlineInsideASentenceDoesNotSplit) {
  EXPECT_EQ(Split("This sentence is\nwrapped across lines. Next one."),
            (Sentences{"This sentence is\nwrapped across lines.", "Next one."}));
  EXPECT_EQ(Split("He met the team\nand left early."), (Sentences{"He met the team\nand left early."}));
}

TEST(SentenceSplitter, HeadingsAreSentencesOfTheirOwn) {
  EXPECT_EQ(Split("# Introduction\nThis is text. More text."),
            (Sentences{"# Introduction", "This is text.", "More text."}));
  EXPECT_EQ(Split("Chapter 1\nIt was a dark night."), (Sentences{"Chapter 1", "It was a dark night."}));
  EXPECT_EQ(Split("Done here.\nRelated Work\nPrior methods use chunks."),
            (Sentences{"Done here.", "Related Work", "Prior methods use chunks."}));
  EXPECT_EQ(Split("End of part.\n---\nNew part"), (Sentences{"End of part.", "---", "New part"}));
}

TEST(SentenceSplitter, UrlsAndEmailsDoNotSplit) {
  EXPECT_EQ(Split("Visit example.com/a.b for details. Mail john.doe@example.org today."),
            (Sentences{"Visit example.com/a.b for details.", "Mail john.doe@example.org today."}));
  EXPECT_EQ(Split("Go to https://www.example.com/index.html. Then click."),
            (Sentences{"Go to https://www.example.com/index.html.", "Then click."}));
  EXPECT_EQ(Split("The file config.yaml lives here."), (Sentences{"The file config.yaml lives here."}));
}

TEST(SentenceSplitter, Utf8TextIsNeverCutInsideACharacter) {
  EXPECT_EQ(Split("Café au lait — très bon. Naïve résumé. End"),
            (Sentences{"Café au lait — très bon.", "Naïve résumé.", "End"}));
  EXPECT_EQ(Split("He left—then came back. Done."), (Sentences{"He left—then came back.", "Done."}));
  // A next word that starts with a non-ASCII capital still starts a sentence.
  EXPECT_EQ(Split("We ate. Émile left."), (Sentences{"We ate.", "Émile left."}));
}

// ---- Token mapping. Token spans are written by hand the way a tokenizer reports piece offsets.

TEST(SentenceEndTokens, PeriodTokensAndLeadingSpaceTokens) {
  const std::string text = "Hello world. Bye.";
  // BOS (empty), "Hello", " world", ".", " Bye", "."
  const std::vector<TokenSpan> tokens = {{0, 0}, {0, 5}, {5, 11}, {11, 12}, {12, 16}, {16, 17}};
  EXPECT_EQ(SentenceEndTokens(text, SplitSentences(text), tokens), (std::vector<int>{3, 5}));
  EXPECT_EQ(BoundaryLabels(text, tokens), (std::vector<uint8_t>{0, 0, 0, 1, 0, 1}));
}

TEST(SentenceEndTokens, TokenSpanningPunctuationAndQuote) {
  const std::string text = "He said \"Stop.\" Then he left.";
  // "He", " said", " \"", "Stop", ".\"", " Then", " he", " left", "."
  const std::vector<TokenSpan> tokens = {{0, 2},   {2, 7},   {7, 9},   {9, 13}, {13, 15},
                                         {15, 20}, {20, 23}, {23, 28}, {28, 29}};
  EXPECT_EQ(SentenceEndTokens(text, SplitSentences(text), tokens), (std::vector<int>{4, 8}));
}

TEST(SentenceEndTokens, LastByteInsideATokenThatRunsOn) {
  const std::string text = "End.\n\nNext.";
  // "End", ".\n\n", "Next", "."
  EXPECT_EQ(SentenceEndTokens(text, SplitSentences(text), {{0, 3}, {3, 6}, {6, 10}, {10, 11}}),
            (std::vector<int>{1, 3}));
  // One token ("! Now!") holds the end of both sentences.
  const std::string merged = "Go! Now!";
  EXPECT_EQ(SentenceEndTokens(merged, SplitSentences(merged), {{0, 2}, {2, 8}}), (std::vector<int>{1, 1}));
}

TEST(SentenceEndTokens, ByteFallbackTokensOfAMultibyteQuote) {
  const std::string text = "“Go.” Now.";  // “Go.” Now.
  // "“" as one token, "Go", ".", then ” as three byte tokens, " Now", "."
  const std::vector<TokenSpan> tokens = {{0, 3}, {3, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}, {9, 13}, {13, 14}};
  EXPECT_EQ(SentenceEndTokens(text, SplitSentences(text), tokens), (std::vector<int>{5, 7}));
}

TEST(SentenceEndTokens, GapsAndMissingTokens) {
  const std::string text = "Ok. Go.";
  // No token covers the first '.' (byte 2): the last token starting before it ("Ok") is used.
  EXPECT_EQ(SentenceEndTokens(text, SplitSentences(text), {{0, 2}, {3, 6}, {6, 7}}), (std::vector<int>{0, 2}));
  EXPECT_EQ(SentenceEndTokens(text, SplitSentences(text), {}), (std::vector<int>{-1, -1}));
  EXPECT_TRUE(BoundaryLabels(text, {}).empty());
}

TEST(SentenceEndTokens, RejectsSpansOutsideTheTextOrOutOfOrder) {
  const std::string text = "Hi. Yo.";
  const std::vector<SentenceSpan> sentences = SplitSentences(text);
  EXPECT_THROW(SentenceEndTokens(text, sentences, {{0, 3}, {3, 9}}), Error);
  EXPECT_THROW(SentenceEndTokens(text, sentences, {{3, 5}, {0, 3}}), Error);
  EXPECT_THROW(SentenceEndTokens(text, {{0, 3}, {1, 7}}, {{0, 7}}), Error);
  EXPECT_THROW(SentenceEndTokens(text, {{0, 8}}, {{0, 7}}), Error);
}

TEST(SentenceEndTokens, LabelsFollowTheAbbreviationRules) {
  const std::string text = "Mr. Smith left. He ran.";
  // "Mr", ".", " Smith", " left", ".", " He", " ran", "."
  const std::vector<TokenSpan> tokens = {{0, 2}, {2, 3}, {3, 9}, {9, 14}, {14, 15}, {15, 18}, {18, 22}, {22, 23}};
  EXPECT_EQ(BoundaryLabels(text, tokens), (std::vector<uint8_t>{0, 0, 0, 0, 1, 0, 0, 1}));
}

}  // namespace
}  // namespace chunkllm
