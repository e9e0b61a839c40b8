#include "chunk/selection.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace chunkllm {
namespace {

// The budget's share of the n candidates ranked by `better` (best first), ascending. Runs at
// every boundary over every chunk of the context, so only the prefix the budget takes is
// ordered: the top k by one partial sort, or for a token budget a prefix grown by doubling
// until it holds the budget's tokens.
template <class Better>
std::vector<int> Take(size_t n, Better better, const std::vector<int>& tokens, const SelectionBudget& b) {
  std::vector<int> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  size_t ordered = 0, taken = 0;
  size_t want = b.tokens > 0 ? std::min<size_t>(n, 16) : std::min(n, size_t(std::max(b.chunks, 0)));
  long taken_tokens = 0;
  for (;;) {
    // The first `ordered` are already the best, in order: order the next ones after them.
    std::partial_sort(idx.begin() + long(ordered), idx.begin() + long(want), idx.end(), better);
    ordered = want;
    if (b.tokens <= 0) {
      taken = ordered;
      break;
    }
    while (taken < ordered && taken_tokens < b.tokens) taken_tokens += tokens[size_t(idx[taken++])];
    if (taken_tokens >= b.tokens || ordered == n) break;
    want = std::min(n, 2 * ordered);
  }
  idx.resize(taken);
  std::sort(idx.begin(), idx.end());
  return idx;
}

std::vector<int> Best(const std::vector<float>& s, const std::vector<int>& tokens, const SelectionBudget& b) {
  // Ties go to the later chunk, deterministically.
  return Take(s.size(), [&](int x, int y) { return s[size_t(x)] != s[size_t(y)] ? s[size_t(x)] > s[size_t(y)] : x > y; },
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
  out.assign(scores.size(), Take(n, by_votes, tokens, b));
  if (b.layer_chunks > 0) {
    const SelectionBudget own{b.layer_chunks, 0, 0};
    for (size_t l = 0; l < scores.size(); ++l) {
      std::vector<int>& set = out[l];
      for (int c : Best(scores[l], tokens, own))
        if (!std::binary_search(set.begin(), set.end(), c)) set.insert(std::upper_bound(set.begin(), set.end(), c), c);
    }
  }
  return out;
}

}  // namespace chunkllm
