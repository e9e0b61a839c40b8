#include "chunk/window_policy.h"

#include <algorithm>

#include "core/error.h"
#include "text/tokenizer.h"

namespace chunkllm {

WindowPolicy::WindowPolicy(const ModelConfig& c, const AttentionOptions& o,
                           std::shared_ptr<const std::vector<uint8_t>> is_separator)
    : GatheredPolicy(c, o.evict()), options_(o), is_separator_(std::move(is_separator)),
      refresh_every_(std::max(1, options_.window / 8)) {
  if (!IsWindowMethod(o.method)) Fail("WindowPolicy: '", Name(o.method), "' is not a window baseline");
  if (o.method == AttentionMethod::kSepLlm && (!is_separator_ || is_separator_->empty())) {
    Fail("sepllm needs the tokenizer's separator tokens");
  }
}

void WindowPolicy::OnBeginBatch(int pos0, int n, const int32_t* tokens) {
  keep_.resize(size_t(pos0 + n), 0);
  for (int i = 0; i < n; ++i) {
    const int p = pos0 + i;
    if (options_.method == AttentionMethod::kSepLlm) {
      const std::vector<uint8_t>& sep = *is_separator_;
      const int32_t t = tokens[i];
      keep_[size_t(p)] = t >= 0 && size_t(t) < sep.size() && sep[size_t(t)];
    } else if (options_.method == AttentionMethod::kFixLlm) {
      keep_[size_t(p)] = p % options_.stride == 0;
    }
  }
  if (n == 1 && refresh_before_decode_) {
    refresh_before_decode_ = false;
    Refresh();
  }
}

void WindowPolicy::OnEndBatch(const SequenceGraph&, int, int n) {
  if (n > 1) {
    refresh_before_decode_ = true;
  } else if (++since_refresh_ >= refresh_every_) {
    Refresh();
  }
}

void WindowPolicy::OnTruncate(int n) {
  keep_.resize(size_t(n));
  since_refresh_ = 0;
  refresh_before_decode_ = n > 0;
}

void WindowPolicy::Refresh() {
  const int T = n_past(), w0 = std::max(0, T - options_.window);
  std::vector<int> pos;
  for (int j = 0; j < T; ++j) {
    if (j < options_.sink || j >= w0 || keep_[size_t(j)]) pos.push_back(j);
  }
  for (int l = 0; l < n_layer(); ++l) SetPositions(l, pos);
  since_refresh_ = 0;
  stats_.selections += 1;
}

std::vector<uint8_t> SeparatorTokens(const Tokenizer& tok) {
  std::vector<uint8_t> sep(size_t(tok.n_vocab()), 0);
  for (int t = 0; t < tok.n_vocab(); ++t) {
    const std::string piece = tok.TokenToPiece(t);
    sep[size_t(t)] = piece.find_first_of(".,;:?!\n") != std::string::npos;
  }
  return sep;
}

}  // namespace chunkllm
