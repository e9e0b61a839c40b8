#include "chunk/selection.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace chunkllm {
namespace {

// Candidate indices, best first by `better`.
template <class Better>
std::vector<int> Ranked(size_t n, Better better) {
  std::vector<int> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), better);
  return idx;
}

// The budget's prefix of a ranking, ascending.
std::vector<int> Take(std::vector<int> ranked, const std::vector<int>& tokens, const SelectionBudget& b) {
  size_t n = 0;
  if (b.tokens > 0) {
    for (long taken = 0; n < ranked.size() && taken < b.tokens; ++n) taken += tokens[size_t(ranked[n])];
  } else {
    n = std::min(ranked.size(), size_t(std::max(b.chunks, 0)));
  }
  ranked.resize(n);
  std::sort(ranked.begin(), ranked.end());
  return ranked;
}

std::vector<int> Best(const std::vector<float>& s, const std::vector<int>& tokens, const SelectionBudget& b) {
  // Ties go to the later chunk, deterministically.
  return Take(Ranked(s.size(), [&](int x, int y) { return s[size_t(x)] != s[size_t(y)] ? s[size_t(x)] > s[size_t(y)] : x > y; }),
              tokens, b);
}

}  // namespace

std::vector<std::vector<int>> SelectChunks(const std::vector<std::vector<float>>& scores,
                                           const std::vector<int>& tokens, const SelectionBudget& b, bool vote) {
  std::vector<std::vector<int>> out;
  if (scores.empty()) return out;
  const size_t n = scores.front().size();
  if (b.tokens > 0 && tokens.size() != n) Fail("SelectChunks: ", tokens.size(), " chunk lengths for ", n, " candidates");
  if (!vote) {
    for (const auto& s : scores) out.push_back(Best(s, tokens, b));
    return out;
  }
  std::vector<float> votes(n, 0.0f), mean(n, 0.0f);
  for (const auto& s : scores) {
    for (int c : Best(s, tokens, b)) votes[size_t(c)] += 1.0f;
    for (size_t c = 0; c < n; ++c) mean[c] += s[c] / float(scores.size());
  }
  const auto by_votes = [&](int x, int y) {
    if (votes[size_t(x)] != votes[size_t(y)]) return votes[size_t(x)] > votes[size_t(y)];
    if (mean[size_t(x)] != mean[size_t(y)]) return mean[size_t(x)] > mean[size_t(y)];
    return x > y;
  };
  out.assign(scores.size(), Take(Ranked(n, by_votes), tokens, b));
  return out;
}

}  // namespace chunkllm
