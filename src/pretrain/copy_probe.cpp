#include "pretrain/copy_probe.h"

#include <cmath>

#include "pretrain/pretrain_data.h"

namespace chunkllm {

CopyProbe::CopyProbe(const PretrainData& data, int length, int n, uint64_t seed) {
  for (int i = 0; i < n; ++i) {
    size_t repeat_begin = 0;
    std::vector<int32_t> tokens = data.CopyDocument(seed + uint64_t(i), length, "tokens", &repeat_begin);
    if (!tokens.empty()) docs_.push_back({std::move(tokens), repeat_begin});
  }
}

double CopyProbe::Accuracy(TorchLlama& model, bool bf16) const {
  if (docs_.empty()) return NAN;
  torch::NoGradGuard ng;
  int64_t correct = 0, total = 0;
  for (const Document& d : docs_) {
    const int64_t n = int64_t(d.tokens.size()) - 1;  // inputs [0, n)
    const torch::Tensor x = TokenRow(d.tokens, n);
    // Position i - 1 predicts token i, for i in [repeat_begin, n).
    const int64_t first = int64_t(d.repeat_begin) - 1;
    const torch::Tensor logits = WithBf16Autocast(bf16, [&] { return model->forward(x); });
    const torch::Tensor pred = logits[0].slice(0, first, n - 1).argmax(-1);
    const auto p = pred.accessor<int64_t, 1>();
    for (int64_t i = 0; i < pred.size(0); ++i) correct += p[i] == d.tokens[size_t(first + 1 + i)];
    total += pred.size(0);
  }
  return double(correct) / double(total);
}

}  // namespace chunkllm
