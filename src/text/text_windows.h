// Windows of real text for measurements that want prose rather than random ids (fidelity,
// bench --text): the documents of a folder tokenized into one stream, each followed by EOS.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace chunkllm {

// `count` windows of `length` + 1 tokens (BOS, then `length` tokens of the stream), spread
// evenly over the stream of text_dir's .txt files (sorted). Throws Error if the text is
// shorter than one window.
std::vector<std::vector<int32_t>> TextWindows(const Tokenizer& tok, const std::string& text_dir, int length,
                                              int count);

}  // namespace chunkllm
