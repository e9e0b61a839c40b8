// Chunks: a partition of token positions [0, T) into consecutive runs, each ended by a boundary
// token (docs/method.md, "Chunk boundaries"). A chunk also ends after max_chunk tokens without a
// boundary, so code, tables and logs still get chunks.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace chunkllm {

struct ChunkPartition {
  std::vector<int> chunk_of;  // (T): chunk index of each token
  std::vector<int> begin;     // (C): first token of each chunk
  std::vector<int> end;       // (C): one past the last token; end - 1 is the chunk's boundary token
  bool last_open = false;     // the last chunk has not ended yet (no boundary at T - 1)
  // Training only: the latest completed chunks that are no candidates, because inference
  // always keeps them (its `local` chunks), so selection never chooses among them.
  int skip_local = 0;

  int n_chunks() const { return int(begin.size()); }
  // Chunks that a query at position t may score: the completed chunks before t's own, but
  // the skip_local latest: chunks [0, n_candidates(t)).
  int n_candidates(int t) const { return std::max(0, chunk_of[size_t(t)] - skip_local); }
};

// is_boundary[t] != 0 ends a chunk at token t. max_chunk <= 0 disables forced boundaries.
ChunkPartition PartitionChunks(const std::vector<uint8_t>& is_boundary, int max_chunk);

}  // namespace chunkllm
