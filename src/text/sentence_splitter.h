// Sentence splitter: a rule-based English sentence boundary detector in the spirit of pySBD. Its only job in
// this project is to label the Chunk Adapter's training targets (docs/method.md, "Chunk boundaries"): the
// last token of each sentence is a positive example. It works on byte offsets, so the labels line up with a
// tokenizer's piece offsets, and it never cuts inside a UTF-8 multibyte character.
//
// Rules, in the order they are applied (the .cpp documents each heuristic where it is coded):
//  * Line structure. A blank line always ends a sentence. A single newline does not, unless a line is a list
//    item ("1. ", "a) ", "(iv) ", "- ", "* ", "• "), a markdown heading ("# "), a horizontal rule, or a short
//    title-case line that starts a paragraph (a heading): such a line is a sentence of its own (a list item
//    keeps an indented continuation line).
//  * Terminators: '.', '?', '!', "…" and runs of them ("?!", "!!", "...", ". . ."). A run ends a sentence only
//    if it is followed, after optional closing quotes or brackets, by whitespace or the end of the text; so
//    3.14, 1,000.50, v1.2.3, 10.0.0.1, example.com/a.b and john.doe@example.org never split. Closing quotes
//    and brackets after the run belong to the sentence that ends ('He said "Stop." Then' ends after '"').
//  * '?', '!' and ellipses end a sentence unless the next word starts with a lowercase letter
//    ('"Really?" she asked.' and "Wait... what?" are one sentence; "He paused... Then he left." is two).
//  * A single '.' after an ordinary word ends a sentence unless the next word starts lowercase.
//    After an abbreviation it depends on the abbreviation (see ClassifyWord in the .cpp): titles (Mr. Dr.
//    e.g. vs.) never end one; number prefixes (No. Fig. pp.) do not before a digit; "etc." ends one before a
//    capitalised word; others (Inc. Jr. U.S. a.m. Jan. and initials like "J.") end one only before a word
//    that commonly starts sentences ("The", "He", "However", ...), since a capitalised word after them is
//    usually a name continuing the phrase ("U.S. Army", "George W. Bush").
//
// Known limitations: whitespace is ASCII only (a no-break space after '.' does not separate); a sentence
// with no space after its terminator ("end.Next") is not split; a sentence that starts lowercase after '.' is
// joined to the previous one; after Inc./U.S./a.m./an initial, a sentence that starts with a name is joined
// ("at 9 a.m. Smith arrived."); an unlisted abbreviation before a capital splits ("Acme Intl. Corp");
// "Dr." and "Mt." never end a sentence, even as "Drive"; headings are recognised by shape, so a very short
// wrapped line ("He met John\nMary ...") can be taken for one, and a wrapped list item must be indented.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace chunkllm {

// Byte offsets [begin, end) of one sentence in the text: begin is its first non-space byte, end is one past
// its last non-space byte (trailing whitespace is never part of a sentence). Sentences are in text order,
// non-empty and non-overlapping.
struct SentenceSpan {
  size_t begin = 0;
  size_t end = 0;
};

// Byte span [piece_begin, piece_end) of one token in the text, as a tokenizer's offsets give it.
using TokenSpan = std::pair<size_t, size_t>;

// Splits UTF-8 text into sentences. Whitespace-only text yields no sentence. Never throws.
std::vector<SentenceSpan> SplitSentences(std::string_view text);

// For each sentence, the index of its last token: the token containing the sentence's last byte (end - 1).
// Tokens must be in text order; tokens with an empty span (BOS, special tokens) are skipped. If no token
// contains that byte (a gap in the offsets), the last non-empty token starting before it is used, and -1 if
// there is none. Two sentences can map to the same token when one token spans a boundary ("." + "\"" + " The"
// merged); indices are non-decreasing. Throws Error if a sentence or a token lies outside the text or the
// token spans go backwards.
std::vector<int> SentenceEndTokens(std::string_view text, const std::vector<SentenceSpan>& sentences,
                                   const std::vector<TokenSpan>& token_spans);

// Chunk Adapter targets: one label per token, 1 at the last token of each sentence of SplitSentences(text),
// 0 elsewhere. Throws like SentenceEndTokens.
std::vector<uint8_t> BoundaryLabels(std::string_view text, const std::vector<TokenSpan>& token_spans);

}  // namespace chunkllm
