#include "chunk/chunking.h"

namespace chunkllm {

ChunkPartition PartitionChunks(const std::vector<uint8_t>& is_boundary, int max_chunk) {
  ChunkPartition p;
  const int T = int(is_boundary.size());
  p.chunk_of.resize(size_t(T));
  int start = 0;
  for (int t = 0; t < T; ++t) {
    p.chunk_of[size_t(t)] = int(p.begin.size());
    const bool full = max_chunk > 0 && t + 1 - start >= max_chunk;
    if (is_boundary[size_t(t)] || full) {
      p.begin.push_back(start);
      p.end.push_back(t + 1);
      start = t + 1;
    }
  }
  p.last_open = start < T;
  if (p.last_open) {
    p.begin.push_back(start);
    p.end.push_back(T);
  }
  return p;
}

}  // namespace chunkllm
