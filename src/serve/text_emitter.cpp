#include "serve/text_emitter.h"

#include <algorithm>

namespace chunkllm::serve {

namespace {

// The length of the well-formed character starting at s[i] (1-4), or 0 if none does; with
// `partial`, a sequence cut short by the end of s counts as well-formed so far (returns its
// would-be length).
size_t CharLength(std::string_view s, size_t i, bool partial) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte (RFC 3629's table)
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) n = 3, lo = 0xA0;
  else if (c >= 0xE1 && c <= 0xEC) n = 3;
  else if (c == 0xED) n = 3, hi = 0x9F;
  else if (c >= 0xEE && c <= 0xEF) n = 3;
  else if (c == 0xF0) n = 4, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else if (c == 0xF4) n = 4, hi = 0x8F;
  else return 0;
  for (size_t k = 1; k < n; ++k) {
    if (i + k >= s.size()) return partial ? n : 0;
    const unsigned char x = b(i + k);
    if (k == 1 ? x < lo || x > hi : x < 0x80 || x > 0xBF) return 0;
  }
  return n;
}

}  // namespace

std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = CharLength(s, i, false);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

size_t IncompleteUtf8Tail(std::string_view s) {
  // A character is at most 4 bytes: only a lead byte among the last 3 can be unfinished.
  for (size_t back = 1; back <= std::min<size_t>(3, s.size()); ++back) {
    const size_t i = s.size() - back;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: its lead is further back
    const size_t n = CharLength(s, i, true);
    return n > back ? back : 0;
  }
  return 0;
}

TextEmitter::TextEmitter(std::vector<std::string> stops) : stops_(std::move(stops)) {}

std::string TextEmitter::Push(const std::string& piece) {
  if (stopped_) return "";
  pending_ += piece;
  size_t stop_at = std::string::npos;
  for (const std::string& s : stops_) stop_at = std::min(stop_at, pending_.find(s));
  if (stop_at != std::string::npos) {
    stopped_ = true;
    std::string out = SanitizeUtf8(std::string_view(pending_).substr(0, stop_at));
    pending_.clear();
    return out;
  }
  // Hold back the longest end of the text that begins a stop string, and an unfinished character.
  size_t hold = IncompleteUtf8Tail(pending_);
  for (const std::string& s : stops_) {
    for (size_t n = std::min(s.size() - 1, pending_.size()); n > hold; --n) {
      if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
    }
  }
  std::string out = SanitizeUtf8(std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string TextEmitter::Flush() {
  if (stopped_) return "";
  std::string out = SanitizeUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace chunkllm::serve
