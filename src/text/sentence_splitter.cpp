#include "text/sentence_splitter.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "core/error.h"

namespace chunkllm {
namespace {

// ---- Characters. Everything is matched as bytes; multibyte punctuation is spelled out in UTF-8, so a
// match always covers whole characters and a boundary never falls inside one.

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLetter(char c) { return IsUpper(c) || IsLower(c); }

constexpr std::string_view kEllipsisChar = "\xE2\x80\xA6";  // …
// Closing quotes and brackets that stay with the sentence they follow ('"Stop." Then', '(See below.) Next').
constexpr auto kClosers =
    std::to_array<std::string_view>({"\"", "'", ")", "]", "}", "\xE2\x80\x9D", "\xE2\x80\x99", "\xC2\xBB"});  // ” ’ »
// Opening quotes and brackets, skipped when looking at the first letter of a word.
constexpr auto kOpeners =
    std::to_array<std::string_view>({"\"", "'", "(", "[", "{", "\xE2\x80\x9C", "\xE2\x80\x98", "\xC2\xAB"});  // “ ‘ «
constexpr auto kBullets =
    std::to_array<std::string_view>({"-", "*", "+", "\xE2\x80\xA2", "\xE2\x97\xA6", "\xE2\x80\x93"});  // • ◦ –

bool HasAt(std::string_view text, size_t pos, std::string_view s) {
  return pos <= text.size() && text.substr(pos, s.size()) == s;
}

// Length of the option found at `pos`, 0 if none.
template <size_t N>
size_t MatchAt(std::string_view text, size_t pos, const std::array<std::string_view, N>& options) {
  for (std::string_view s : options) {
    if (HasAt(text, pos, s)) return s.size();
  }
  return 0;
}

// Length of the option that ends exactly at `end`, 0 if none.
template <size_t N>
size_t MatchEndingAt(std::string_view text, size_t end, const std::array<std::string_view, N>& options) {
  for (std::string_view s : options) {
    if (s.size() <= end && HasAt(text, end - s.size(), s)) return s.size();
  }
  return 0;
}

// Length of the sentence terminator at `pos` ('.', '?', '!' or '…'), 0 if none.
size_t TerminatorAt(std::string_view text, size_t pos) {
  if (pos >= text.size()) return 0;
  if (text[pos] == '.' || text[pos] == '?' || text[pos] == '!') return 1;
  return HasAt(text, pos, kEllipsisChar) ? kEllipsisChar.size() : 0;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Strips opening quotes/brackets in front of a word and closing ones after it: '("Stop"' -> 'Stop'.
std::string_view StripQuotes(std::string_view word) {
  while (size_t n = MatchAt(word, 0, kOpeners)) word.remove_prefix(n);
  while (size_t n = MatchEndingAt(word, word.size(), kClosers)) word.remove_suffix(n);
  return word;
}

// ---- Words around a terminator.

// How a period after a word behaves. Abbreviations match case-sensitively (except number prefixes), because
// several are also common words when lowercase: "sat.", "sun.", "ms." (milliseconds), "rep.".
enum class WordKind {
  kOrdinary,      // '.' ends the sentence unless the next word starts lowercase.
  kTitle,         // Mr. Dr. e.g. vs.: the phrase always continues, whatever the case of the next word.
  kNumberPrefix,  // No. Fig. pp.: an abbreviation before a number, an ordinary word otherwise ("No. I won't.").
  kListClosing,   // etc.: closes a list, and a name rarely follows it, so any capitalised next word starts a
                  // new sentence.
  kNameLike,      // Inc. Jr. U.S. a.m. Jan. and initials: a capitalised next word is usually a name that
                  // continues the phrase ("U.S. Army", "George W. Bush", "King Jr. Day"), so only a word that
                  // commonly starts sentences ("The", "He", "However") ends one.
};

constexpr auto kTitles = std::to_array<std::string_view>({
    "Mr",   "Mrs", "Ms",  "Messrs", "Mme", "Mlle", "Dr",  "Prof", "Rev", "Fr",  "Hon", "Gen",  "Col",
    "Capt", "Lt",  "Sgt", "Maj",    "Adm", "Cmdr", "Cpl", "Pvt",  "Gov", "Sen", "Rep", "Pres", "Supt",
    "Mt",   "Ft",  "vs",  "Vs",     "v",   "e.g",  "E.g", "i.e",  "I.e", "cf",  "Cf",  "viz",  "approx",
});
// Compared case-insensitively: they only matter before a number, where "no. 5" is as clear as "No. 5".
constexpr auto kNumberPrefixes = std::to_array<std::string_view>({
    "no",   "nos", "nr",   "fig", "figs", "vol", "vols", "pp",  "p",    "ch",
    "chap", "sec", "sect", "eq",  "eqs",  "art", "tab",  "ref", "refs", "op",
});
constexpr auto kNameLikeAbbreviations = std::to_array<std::string_view>({
    "Inc",  "Ltd", "Co",  "Corp", "Bros",  "Jr",  "Sr",  "Esq", "St",  "Ave",  "Blvd", "Rd",  "Dept", "Univ", "Assn",
    "Intl", "Jan", "Feb", "Mar",  "Apr",   "Jun", "Jul", "Aug", "Sep", "Sept", "Oct",  "Nov", "Dec",  "Mon",  "Tue",
    "Tues", "Wed", "Thu", "Thur", "Thurs", "Fri", "Sat", "Sun", "al",  "est",  "min",  "hr",  "hrs",  "yr",
});
// Capitalised words that commonly open a sentence and are rarely part of a name.
constexpr auto kSentenceStarters = std::to_array<std::string_view>({
    "A",       "An",       "The",    "This",    "That",      "These",    "Those",       "There",     "Here",
    "Then",    "Thus",     "Hence",  "However", "Therefore", "Moreover", "Furthermore", "Meanwhile", "Also",
    "But",     "And",      "Or",     "So",      "Yet",       "Still",    "Instead",     "Indeed",    "I",
    "He",      "She",      "It",     "We",      "They",      "You",      "His",         "Her",       "Its",
    "Our",     "Their",    "My",     "Your",    "In",        "On",       "At",          "For",       "From",
    "To",      "With",     "By",     "As",      "Of",        "After",    "Before",      "When",      "While",
    "If",      "Although", "Though", "Because", "Since",     "Once",     "What",        "Who",       "Why",
    "How",     "Where",    "Which",  "Some",    "Many",      "Most",     "All",         "No",        "Not",
    "Each",    "Every",    "One",    "Another", "Now",       "Today",    "Tomorrow",    "Yesterday", "Later",
    "Finally", "First",    "Next",   "Other",   "Such",      "Do",       "Does",        "Did",       "Is",
    "Are",     "Was",      "Were",   "Let",     "Please",    "Note",
});

template <size_t N>
bool Contains(const std::array<std::string_view, N>& list, std::string_view word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// "U.S", "a.m", "Ph.D", "U.S.A" (the final period is the terminator): dotted parts of one or two letters.
bool IsDottedAbbreviation(std::string_view word) {
  if (word.find('.') == std::string_view::npos) return false;
  size_t part_length = 0;
  for (char c : word) {
    if (c == '.') {
      if (part_length == 0) return false;
      part_length = 0;
    } else if (!IsLetter(c) || ++part_length > 2) {
      return false;
    }
  }
  return part_length > 0;
}

WordKind ClassifyWord(std::string_view word) {
  if (Contains(kTitles, word)) return WordKind::kTitle;
  if (word == "etc") return WordKind::kListClosing;
  for (std::string_view prefix : kNumberPrefixes) {
    if (EqualsIgnoreCase(word, prefix)) return WordKind::kNumberPrefix;
  }
  if (Contains(kNameLikeAbbreviations, word) || IsDottedAbbreviation(word)) return WordKind::kNameLike;
  if (word.size() == 1 && IsUpper(word[0])) return WordKind::kNameLike;  // an initial: "J. R. R. Tolkien"
  return WordKind::kOrdinary;
}

// "II", "IV", "XII": a number after "Vol." or "Ch.". A lone "I" is not taken, since "No. I won't." is common.
bool IsRomanNumeral(std::string_view letters) {
  return letters.size() >= 2 && letters.find_first_not_of("IVXLC") == std::string_view::npos;
}

// The word just before the terminator at `pos`, without quotes or brackets: 'said "Stop' -> "Stop".
std::string_view WordBefore(std::string_view text, size_t pos) {
  size_t begin = pos;
  while (begin > 0 && !IsSpace(text[begin - 1])) --begin;
  return StripQuotes(text.substr(begin, pos - begin));
}

struct NextWord {
  enum Kind { kEnd, kLower, kUpper, kDigit, kOther } kind = kEnd;
  std::string_view letters;  // the leading ASCII letters: "It" for "It's"
};

// The word that follows `pos`, after whitespace and opening quotes or brackets.
NextWord ReadNextWord(std::string_view text, size_t pos) {
  while (pos < text.size() && IsSpace(text[pos])) ++pos;
  while (size_t n = MatchAt(text, pos, kOpeners)) pos += n;
  NextWord next;
  if (pos >= text.size()) return next;
  const char c = text[pos];
  next.kind = IsLower(c)   ? NextWord::kLower
              : IsUpper(c) ? NextWord::kUpper
              : IsDigit(c) ? NextWord::kDigit
                           : NextWord::kOther;
  size_t end = pos;
  while (end < text.size() && IsLetter(text[end])) ++end;
  next.letters = text.substr(pos, end - pos);
  return next;
}

// Whether the terminator run text[run_begin, run_end) ends a sentence, given the word after it.
bool RunEndsSentence(std::string_view text, size_t run_begin, size_t run_end, const NextWord& next) {
  if (next.kind == NextWord::kEnd) return true;
  // '?', '!', "?!", "..." and "…": the sentence goes on only into a lowercase word ('"Really?" she asked',
  // "Wait... what?"). An ellipsis before a capital is a boundary ("He paused... Then he left.").
  if (text.substr(run_begin, run_end - run_begin) != ".") return next.kind != NextWord::kLower;
  switch (ClassifyWord(WordBefore(text, run_begin))) {
    case WordKind::kTitle:
      return false;
    case WordKind::kListClosing:
      return next.kind == NextWord::kUpper;
    case WordKind::kNameLike:
      return next.kind == NextWord::kUpper && Contains(kSentenceStarters, next.letters);
    case WordKind::kNumberPrefix:
      if (next.kind == NextWord::kDigit || IsRomanNumeral(next.letters)) return false;
      [[fallthrough]];
    case WordKind::kOrdinary:
      break;
  }
  // After an ordinary word a lowercase next word most likely means an abbreviation we do not know.
  return next.kind != NextWord::kLower;
}

// ---- Lines: paragraph breaks, list items and headings.

struct Line {
  size_t begin = 0;          // first byte of the line
  size_t end = 0;            // its '\n' (or the end of the text)
  std::string_view content;  // the line without surrounding whitespace; empty for a blank line
  size_t marker_end = 0;     // list item: one past its marker ("1." in "1. First"), else 0
  bool standalone = false;   // a heading or a horizontal rule: a sentence of its own
};

// Length of the list marker that opens `content` ("1.", "2)", "a)", "(iv)", "-", "•"), 0 if it is no list
// item. A marker must be followed by a space. "A." is not taken: it is more often an initial ("A. Smith").
size_t ListMarkerLength(std::string_view content) {
  auto followed_by_space = [&](size_t n) {
    return n < content.size() && (content[n] == ' ' || content[n] == '\t') ? n : size_t{0};
  };
  if (size_t n = MatchAt(content, 0, kBullets)) return followed_by_space(n);
  const bool parenthesised = !content.empty() && content[0] == '(';
  size_t n = parenthesised ? 1 : 0;
  const size_t label_begin = n;
  while (n < content.size() && IsDigit(content[n]) && n - label_begin < 3) ++n;
  bool uppercase_letter = false;
  if (n == label_begin) {  // not a number: a single letter or a lowercase roman numeral (i, ii, iv, ...)
    while (n < content.size() && (content[n] == 'i' || content[n] == 'v' || content[n] == 'x') && n - label_begin < 4) {
      ++n;
    }
    if (n == label_begin && n < content.size() && IsLetter(content[n])) uppercase_letter = IsUpper(content[n++]);
    if (n == label_begin || (n < content.size() && IsLetter(content[n]))) return 0;
  }
  if (n >= content.size()) return 0;
  const char close = content[n];
  const bool closes = close == ')' || (close == '.' && !parenthesised && !uppercase_letter);
  return closes ? followed_by_space(n + 1) : 0;
}

// "# Title", "---", "***", "===": markdown structure that is a sentence of its own.
bool IsMarkdownHeadingOrRule(std::string_view content) {
  size_t hashes = content.find_first_not_of('#');
  if (hashes >= 1 && hashes <= 6 && hashes < content.size() && content[hashes] == ' ') return true;
  if (content.size() < 3 || std::string_view("-*_=").find(content[0]) == std::string_view::npos) return false;
  return content.find_first_not_of(std::string(1, content[0]) + " ") == std::string_view::npos &&
         std::count(content.begin(), content.end(), content[0]) >= 3;
}

// A short title-case line ("Chapter 1", "Related Work", "THE END"): at most 10 words and 60 bytes, no final
// punctuation, first and last words capitalised (or numbers), and no lowercase word of 4+ letters.
bool LooksLikeTitle(std::string_view content) {
  const std::string_view unquoted = StripQuotes(content);
  if (content.size() > 60 || unquoted.empty() ||
      std::string_view(".?!,;:-").find(unquoted.back()) != std::string_view::npos) {
    return false;
  }
  int words = 0;
  bool has_letter = false;
  std::string_view last_word;
  for (size_t pos = 0; pos < content.size();) {
    size_t end = pos;
    while (end < content.size() && !IsSpace(content[end])) ++end;
    std::string_view word = StripQuotes(content.substr(pos, end - pos));
    if (!word.empty()) {
      if (++words > 10 || (words == 1 && !IsUpper(word[0]) && !IsDigit(word[0]))) return false;
      const size_t letters = std::find_if_not(word.begin(), word.end(), IsLetter) - word.begin();
      if (letters >= 4 && IsLower(word[0])) return false;
      has_letter = has_letter || letters > 0;
      last_word = word;
    }
    pos = end;
    while (pos < content.size() && IsSpace(content[pos])) ++pos;
  }
  return has_letter && !last_word.empty() && (IsUpper(last_word[0]) || IsDigit(last_word[0]));
}

std::vector<Line> SplitLines(std::string_view text) {
  std::vector<Line> lines;
  for (size_t begin = 0; begin <= text.size();) {
    const size_t newline = text.find('\n', begin);
    const size_t end = newline == std::string_view::npos ? text.size() : newline;
    Line line{begin, end, TrimSpaces(text.substr(begin, end - begin))};
    if (size_t marker = ListMarkerLength(line.content)) {
      line.marker_end = static_cast<size_t>(line.content.data() - text.data()) + marker;
    }
    lines.push_back(line);
    begin = end + 1;
  }
  // A title-case line is a heading only where a sentence may start (first line of a paragraph, or after a line
  // that ends a sentence or introduces something) and when text follows it on the next line.
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    Line& line = lines[i];
    if (line.content.empty() || line.marker_end != 0) continue;
    const std::string_view previous = i == 0 ? std::string_view() : StripQuotes(lines[i - 1].content);
    const bool sentence_may_start = previous.empty() || lines[i - 1].marker_end != 0 || lines[i - 1].standalone ||
                                    std::string_view(".?!:").find(previous.back()) != std::string_view::npos ||
                                    previous.ends_with(kEllipsisChar);
    line.standalone = IsMarkdownHeadingOrRule(line.content) ||
                      (sentence_may_start && !lines[i + 1].content.empty() && LooksLikeTitle(line.content));
  }
  if (!lines.empty()) lines.back().standalone = IsMarkdownHeadingOrRule(lines.back().content);
  return lines;
}

}  // namespace

std::vector<SentenceSpan> SplitSentences(std::string_view text) {
  // Byte offsets where a sentence ends; the text between two of them, trimmed, is one sentence.
  std::vector<size_t> cuts;
  bool in_list_item = false;  // an item keeps its indented continuation lines
  for (const Line& line : SplitLines(text)) {
    if (line.content.empty()) {  // blank line: paragraph break
      cuts.push_back(line.begin);
      in_list_item = false;
      continue;
    }
    const bool indented = line.content.data() > text.data() + line.begin;
    if (line.marker_end != 0 || line.standalone) {
      cuts.push_back(line.begin);
      if (line.standalone) cuts.push_back(line.end);
      in_list_item = line.marker_end != 0;
    } else if (in_list_item && !indented) {
      cuts.push_back(line.begin);
      in_list_item = false;
    }
    // Terminators in the line; the list marker's own period ("1.") is not one.
    for (size_t pos = std::max(line.begin, line.marker_end); pos < line.end;) {
      size_t run_end = pos;
      while (size_t n = TerminatorAt(text, run_end)) run_end += n;
      if (run_end == pos) {
        ++pos;
        continue;
      }
      // Spaced ellipsis ". . .": a run of dots, then " ." not followed by a digit or letter (not " .5").
      const bool only_dots = text.substr(pos, run_end - pos).find_first_not_of('.') == std::string_view::npos;
      while (only_dots && HasAt(text, run_end, " .") &&
             (run_end + 2 >= text.size() || !std::isalnum(static_cast<unsigned char>(text[run_end + 2])))) {
        run_end += 2;
      }
      size_t sentence_end = run_end;
      while (size_t n = MatchAt(text, sentence_end, kClosers)) sentence_end += n;
      // Only whitespace (or the end) after the run can end a sentence: 3.14, U.S.A, example.com, a@b.org do not.
      const bool followed_by_space = sentence_end == text.size() || IsSpace(text[sentence_end]);
      if (followed_by_space && RunEndsSentence(text, pos, run_end, ReadNextWord(text, sentence_end))) {
        cuts.push_back(sentence_end);
      }
      pos = run_end;
    }
  }
  cuts.push_back(text.size());
  std::sort(cuts.begin(), cuts.end());

  std::vector<SentenceSpan> sentences;
  size_t begin = 0;
  for (size_t cut : cuts) {
    if (cut < begin) continue;
    const std::string_view piece = TrimSpaces(text.substr(begin, cut - begin));
    if (!piece.empty()) {
      const size_t piece_begin = static_cast<size_t>(piece.data() - text.data());
      sentences.push_back({piece_begin, piece_begin + piece.size()});
    }
    begin = cut;
  }
  return sentences;
}

std::vector<int> SentenceEndTokens(std::string_view text, const std::vector<SentenceSpan>& sentences,
                                   const std::vector<TokenSpan>& token_spans) {
  for (size_t t = 0; t < token_spans.size(); ++t) {
    const auto [begin, end] = token_spans[t];
    if (begin > end || end > text.size()) {
      Fail("SentenceEndTokens: token ", t, " spans [", begin, ", ", end, "), outside the text of ", text.size(),
           " bytes");
    }
    if (t > 0 && begin < token_spans[t - 1].first) {
      Fail("SentenceEndTokens: token ", t, " starts at byte ", begin, ", before token ", t - 1, " (",
           token_spans[t - 1].first, "); token spans must be in text order");
    }
  }
  std::vector<int> end_tokens;
  end_tokens.reserve(sentences.size());
  size_t next_token = 0;
  int last_started = -1;  // the last non-empty token starting at or before the current sentence's last byte
  for (size_t s = 0; s < sentences.size(); ++s) {
    const SentenceSpan& sentence = sentences[s];
    if (sentence.begin >= sentence.end || sentence.end > text.size() ||
        (s > 0 && sentence.begin < sentences[s - 1].end)) {
      Fail("SentenceEndTokens: sentence ", s, " spans [", sentence.begin, ", ", sentence.end,
           "), which is empty, outside the text of ", text.size(), " bytes, or overlaps the previous sentence");
    }
    const size_t last_byte = sentence.end - 1;
    for (; next_token < token_spans.size() && token_spans[next_token].first <= last_byte; ++next_token) {
      if (token_spans[next_token].second > token_spans[next_token].first) last_started = static_cast<int>(next_token);
    }
    end_tokens.push_back(last_started);
  }
  return end_tokens;
}

std::vector<uint8_t> BoundaryLabels(std::string_view text, const std::vector<TokenSpan>& token_spans) {
  std::vector<uint8_t> labels(token_spans.size(), 0);
  for (int token : SentenceEndTokens(text, SplitSentences(text), token_spans)) {
    if (token >= 0) labels[static_cast<size_t>(token)] = 1;
  }
  return labels;
}

}  // namespace chunkllm
