// Chunk selection at a boundary (METHOD.md, design 6): each layer ranks the candidate chunks
// by its score and votes for its top-k; the shared set is the k chunks with most votes (ties:
// higher mean score, then the later chunk). Without the vote each layer keeps its own top-k.
#pragma once

#include <vector>

namespace chunkllm {

// scores: [layer][candidate] (any real scale; only the order and the mean are used).
// Returns [layer][selected candidate indices, ascending]; with vote, every layer's list is
// the same. Fewer than k candidates: all of them.
std::vector<std::vector<int>> SelectChunks(const std::vector<std::vector<float>>& scores, int k, bool vote);

}  // namespace chunkllm
