// TextEmitter: stop strings end the text before them, across token boundaries; what could still
// become a stop string or a UTF-8 character is held back; the deltas joined are the text.
#include <gtest/gtest.h>

#include "serve/text_emitter.h"

namespace chunkllm::serve {
namespace {

std::string PushAll(TextEmitter& e, const std::vector<std::string>& pieces, std::vector<std::string>* deltas = nullptr) {
  std::string text;
  for (const std::string& p : pieces) {
    const std::string d = e.Push(p);
    if (deltas) deltas->push_back(d);
    text += d;
  }
  return text + e.Flush();
}

TEST(TextEmitter, StopStringAcrossPiecesEndsTheTextBeforeIt) {
  TextEmitter e({"END"});
  std::vector<std::string> deltas;
  EXPECT_EQ(PushAll(e, {"ab", "cE", "N", "Dxyz", "more"}, &deltas), "abc");
  EXPECT_TRUE(e.stopped());
  EXPECT_EQ(deltas[1], "c");  // "E" held back: it may begin "END"
  EXPECT_EQ(deltas[2], "");
}

TEST(TextEmitter, APartialStopAtTheEndIsText) {
  TextEmitter e({"END"});
  EXPECT_EQ(PushAll(e, {"ab", "EN"}), "abEN");
  EXPECT_FALSE(e.stopped());
}

TEST(TextEmitter, EarliestOfSeveralStops) {
  TextEmitter e({"zz", "b"});
  EXPECT_EQ(PushAll(e, {"azzb"}), "a");
}

TEST(TextEmitter, Utf8SplitAcrossTokensIsHeldUntilWhole) {
  TextEmitter e;
  std::vector<std::string> deltas;
  // "é" = C3 A9, "€" = E2 82 AC, split over pieces.
  EXPECT_EQ(PushAll(e, {"a\xC3", "\xA9", "\xE2\x82", "\xAC!"}, &deltas), "a\xC3\xA9\xE2\x82\xAC!");
  EXPECT_EQ(deltas[0], "a");
  EXPECT_EQ(deltas[2], "");
}

TEST(TextEmitter, InvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(SanitizeUtf8("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");          // overlong
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");        // U+1F600 stays
  TextEmitter e;
  EXPECT_EQ(PushAll(e, {"x\xE2\x82"}), "x\xEF\xBF\xBD\xEF\xBF\xBD");  // unfinished at the end
  EXPECT_EQ(IncompleteUtf8Tail("ab\xF0\x9F"), 2u);
  EXPECT_EQ(IncompleteUtf8Tail("ab\xFF"), 0u);
}

}  // namespace
}  // namespace chunkllm::serve
