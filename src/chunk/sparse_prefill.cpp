#include "chunk/sparse_prefill.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "chunk/selection.h"
#include "core/error.h"
#include "core/log_softmax.h"

namespace chunkllm {

int PrefillRowsBound(const PrefillKnobs& k, int max_chunk, int T) {
  // The budget's last chunk may pass it, and the window starts at a chunk's beginning and ends
  // at the open chunk's: each adds at most one chunk.
  return k.sink + k.budget + max_chunk + k.window + 2 * max_chunk + T;
}

std::vector<std::pair<int, int>> PrefillQueryGroups(int T, int groups) {
  const int G = groups <= 0 || groups > T ? T : groups;
  std::vector<std::pair<int, int>> out;
  for (int g = 0; g < G; ++g) out.push_back({int(int64_t(T) * g / G), int(int64_t(T) * (g + 1) / G)});
  return out;
}

void PrefillChunkScores(const AdapterSet& a, int l, const std::vector<PrefillQuery>& groups, const float* keys,
                        const std::vector<int>& last_token, ChunkCandidates& cand, std::vector<float>& out) {
  std::vector<float> scores;
  for (size_t g = 0; g < groups.size(); ++g) {
    // The token distances are the group's: from its mean position to each chunk's last token.
    for (size_t i = 0; i < cand.chunk.size(); ++i) cand.token_distance[i] = groups[g].pos - last_token[i];
    ChunkScores(a, l, groups[g].q, keys, cand, groups.size() == 1 ? out : scores);
    if (groups.size() == 1) return;
    const float log_z = float(LogSumExp(scores.data(), scores.size()));
    if (g == 0) out.assign(scores.size(), -INFINITY);
    for (size_t i = 0; i < scores.size(); ++i) out[i] = std::max(out[i], scores[i] - log_z);
  }
}

std::vector<int> PrefillPositions(const AdapterSet& a, const ChunkIndex& ix, int l, const std::vector<PrefillQuery>& groups,
                                  int pos0, int T, const PrefillKnobs& k) {
  const int C = ix.n_chunks();
  // The window: the latest chunks that end after pos0 - window (the open chunk follows them).
  int first_local = C;
  while (first_local > 0 && ix.chunk_end(first_local - 1) > pos0 - k.window) --first_local;
  ChunkCandidates cand;
  std::vector<int> last_token;
  for (int c = 0; c < first_local; ++c) {
    if (ix.chunk_end(c) <= k.sink) continue;  // inside the sink
    cand.chunk.push_back(c);
    cand.distance.push_back(C - c);
    cand.tokens.push_back(ix.chunk_end(c) - ix.chunk_begin(c));
    last_token.push_back(ix.chunk_end(c) - 1);
    cand.token_distance.push_back(0);  // per query group (PrefillChunkScores)
  }
  std::vector<int> pos;
  for (int j = 0; j < std::min(k.sink, pos0); ++j) pos.push_back(j);
  if (k.budget > 0 && !cand.chunk.empty()) {
    std::vector<float> scores;
    PrefillChunkScores(a, l, groups, ix.keys(l).data(), last_token, cand, scores);
    const SelectionBudget budget{/*chunks=*/0, /*tokens=*/k.budget, /*layer_chunks=*/0};
    const std::vector<std::vector<int>> picked = SelectChunks({scores}, cand.tokens, budget, /*vote=*/false);
    for (int i : picked[0]) {
      const int c = cand.chunk[size_t(i)];
      for (int j = std::max(ix.chunk_begin(c), k.sink); j < ix.chunk_end(c); ++j) pos.push_back(j);
    }
  }
  const int window_begin = first_local < C ? ix.chunk_begin(first_local) : ix.open_begin();
  for (int j = std::max(window_begin, std::min(k.sink, pos0)); j < pos0 + T; ++j) pos.push_back(j);
  std::sort(pos.begin(), pos.end());  // the chunks were taken in rank order
  return pos;
}

void PrefillMask(const std::vector<int>& positions, int pos0, int T, int n_kv, ggml_fp16_t* mask) {
  if (int(positions.size()) > n_kv) Fail("sparse prefill: ", positions.size(), " positions for ", n_kv, " rows");
  const ggml_fp16_t zero = ggml_fp32_to_fp16(0.0f), neg_inf = ggml_fp32_to_fp16(-INFINITY);
  const int before = int(std::lower_bound(positions.begin(), positions.end(), pos0) - positions.begin());
  for (int i = 0; i < T; ++i) {
    ggml_fp16_t* row = mask + size_t(i) * size_t(n_kv);
    const int seen = std::min(int(positions.size()), before + i + 1);  // the batch's rows follow in order
    std::fill(row, row + seen, zero);
    std::fill(row + seen, row + n_kv, neg_inf);
  }
}

}  // namespace chunkllm
