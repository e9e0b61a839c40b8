// TextEmitter: turns a generation's token pieces into the text a client receives, the same
// deltas whether they are streamed or joined into one response (so the two are equal):
//   - a stop string ends the text before it; text that may still turn into one is held back;
//   - a UTF-8 character split across tokens is held back until it is whole; bytes that can never
//     form a character become U+FFFD, so every delta is valid UTF-8 (JSON needs it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace chunkllm::serve {

class TextEmitter {
 public:
  explicit TextEmitter(std::vector<std::string> stops = {});

  // Appends one token's bytes; returns the text that became final (possibly empty). After a
  // stop string appeared it returns nothing more.
  std::string Push(const std::string& piece);
  // At the end of the generation: the text still held back (a partial stop string is text
  // after all; an unfinished character becomes U+FFFD). Empty after a stop.
  std::string Flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

// The bytes of s with every byte that is not part of a well-formed UTF-8 character (RFC 3629:
// no overlong forms, surrogates or code points past U+10FFFF) replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view s);
// How many bytes at the end of s are the start of a character that more bytes could complete.
size_t IncompleteUtf8Tail(std::string_view s);

}  // namespace chunkllm::serve
