#include "text/token_spans.h"

#include "core/error.h"
#include "text/tokenizer.h"

namespace chunkllm {

std::vector<TokenSpan> TokenSpans(const Tokenizer& tok, std::string_view text, const std::vector<int32_t>& tokens) {
  std::vector<TokenSpan> spans;
  spans.reserve(tokens.size());
  size_t cursor = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string piece = tok.TokenToPiece(tokens[i], /*special=*/false);
    if (piece.empty()) {  // BOS, EOS and other control tokens
      spans.emplace_back(cursor, cursor);
      continue;
    }
    std::string_view p = piece;
    if (text.substr(cursor, p.size()) != p && p.front() == ' ') p.remove_prefix(1);  // phantom space
    if (text.substr(cursor, p.size()) != p) {
      Fail("token ", i, " (id ", tokens[i], ", piece '", piece, "') does not match the text at byte ", cursor);
    }
    spans.emplace_back(cursor, cursor + p.size());
    cursor += p.size();
  }
  return spans;
}

}  // namespace chunkllm
