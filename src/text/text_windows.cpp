#include "text/text_windows.h"

#include <algorithm>

#include "core/error.h"
#include "core/file_util.h"

namespace chunkllm {

std::vector<std::vector<int32_t>> TextWindows(const Tokenizer& tok, const std::string& text_dir, int length,
                                              int count) {
  std::vector<int32_t> stream;
  for (const auto& f : ListTextFiles({text_dir})) {
    const auto ids = tok.Tokenize(ReadTextDocument(f), false);
    stream.insert(stream.end(), ids.begin(), ids.end());
    stream.push_back(tok.eos());
  }
  if (stream.size() < size_t(length)) {
    Fail(text_dir, ": ", stream.size(), " tokens of text, fewer than one window of ", length);
  }
  std::vector<std::vector<int32_t>> out;
  const size_t stride = (stream.size() - size_t(length)) / size_t(std::max(1, count));
  for (int i = 0; i < count; ++i) {
    std::vector<int32_t> w = {tok.bos()};
    const auto begin = stream.begin() + long(size_t(i) * stride);
    w.insert(w.end(), begin, begin + length);
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace chunkllm
