// Chunk distance buckets for the adapters' learned recency term (our addition to the chunk score of
// docs/method.md; `chunkllm train --distance-buckets B`, 0 = the paper's position-free score):
//
//   s_l(t, c) = softmax_c( q~_t . k~_c / sqrt(r) + b_l[bucket(chunk(t) - c)] )
//
// The adapters see no positions (no RoPE), so without b they cannot express what a backbone
// whose heads mostly read the latest chunks does; b_l (B floats per layer) can, and it costs
// one table lookup per candidate. Distance d >= 1 counts chunks back from the chunk of the
// tokens the score is for: in training the query's own chunk, at inference the open chunk
// that a selection serves. Buckets 0..7 are d = 1..8 exactly, then two buckets per doubling
// of d, the last bucket holding every larger distance.
#pragma once

#include <algorithm>
#include <cmath>

namespace chunkllm {

// Largest bucket count a file or `train --distance-buckets` may ask for (the table is tiny;
// the bound only stops a corrupt value from allocating without limit).
constexpr int kMaxDistanceBuckets = 4096;

inline int ChunkDistanceBucket(int distance, int n_buckets) {
  if (n_buckets <= 0) return 0;
  constexpr int kExact = 8;
  const int d = std::max(distance, 1);
  int b = d <= kExact ? d - 1 : kExact + int(std::floor(2.0 * std::log2(double(d) / kExact)));
  return std::min(b, n_buckets - 1);
}

}  // namespace chunkllm
