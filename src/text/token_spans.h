// TokenSpans: the byte span of each token in the text it was tokenized from, so sentence
// boundaries (byte offsets) can be mapped to tokens (text/sentence_splitter.h).
//
// libllama gives no offsets, so they are recovered by walking each token's piece along the
// text. SentencePiece adds a phantom space before the first word; a piece whose leading
// space is not in the text matches without it. Special tokens (BOS, EOS) get empty spans.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "text/sentence_splitter.h"

namespace chunkllm {

class Tokenizer;

// Throws Error naming the token index when a piece does not match the text (a tokenizer that
// normalises text, which the Llama, Qwen and Mistral vocabularies do not).
std::vector<TokenSpan> TokenSpans(const Tokenizer& tokenizer, std::string_view text,
                                  const std::vector<int32_t>& tokens);

}  // namespace chunkllm
