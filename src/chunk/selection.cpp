#include "chunk/selection.h"

#include <algorithm>
#include <numeric>

namespace chunkllm {
namespace {

std::vector<int> TopK(const std::vector<float>& s, int k) {
  std::vector<int> idx(s.size());
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min<int>(k, int(idx.size()));
  // Ties go to the later chunk, deterministically.
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int a, int b) { return s[size_t(a)] != s[size_t(b)] ? s[size_t(a)] > s[size_t(b)] : a > b; });
  idx.resize(size_t(k));
  std::sort(idx.begin(), idx.end());
  return idx;
}

}  // namespace

std::vector<std::vector<int>> SelectChunks(const std::vector<std::vector<float>>& scores, int k, bool vote) {
  std::vector<std::vector<int>> out;
  if (scores.empty()) return out;
  if (!vote) {
    for (const auto& s : scores) out.push_back(TopK(s, k));
    return out;
  }
  const size_t n = scores.front().size();
  std::vector<float> votes(n, 0.0f), mean(n, 0.0f);
  for (const auto& s : scores) {
    for (int c : TopK(s, k)) votes[size_t(c)] += 1.0f;
    for (size_t c = 0; c < n; ++c) mean[c] += s[c] / float(scores.size());
  }
  std::vector<int> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  const int kk = std::min<int>(k, int(n));
  std::partial_sort(idx.begin(), idx.begin() + kk, idx.end(), [&](int a, int b) {
    if (votes[size_t(a)] != votes[size_t(b)]) return votes[size_t(a)] > votes[size_t(b)];
    if (mean[size_t(a)] != mean[size_t(b)]) return mean[size_t(a)] > mean[size_t(b)];
    return a > b;
  });
  idx.resize(size_t(kk));
  std::sort(idx.begin(), idx.end());
  out.assign(scores.size(), idx);
  return out;
}

}  // namespace chunkllm
