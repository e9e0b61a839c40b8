// Chunk partitions: every token in exactly one chunk, chunks consecutive, forced boundaries.
#include <gtest/gtest.h>

#include <random>

#include "chunk/chunking.h"

namespace chunkllm {
namespace {

TEST(Chunking, PartitionsTheSequence) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    const int T = 1 + int(rng() % 400), max_chunk = int(rng() % 40);
    std::vector<uint8_t> b(static_cast<size_t>(T));
    for (auto& x : b) x = rng() % 7 == 0;
    const ChunkPartition p = PartitionChunks(b, max_chunk);
    ASSERT_GT(p.n_chunks(), 0);
    EXPECT_EQ(p.begin.front(), 0);
    EXPECT_EQ(p.end.back(), T);
    for (int c = 0; c < p.n_chunks(); ++c) {
      ASSERT_LT(p.begin[size_t(c)], p.end[size_t(c)]);
      if (c > 0) EXPECT_EQ(p.begin[size_t(c)], p.end[size_t(c - 1)]);
      if (max_chunk > 0) EXPECT_LE(p.end[size_t(c)] - p.begin[size_t(c)], max_chunk);
      for (int t = p.begin[size_t(c)]; t < p.end[size_t(c)]; ++t) EXPECT_EQ(p.chunk_of[size_t(t)], c);
      // A chunk ends at a boundary, at the forced length, or at the end of the sequence.
      const int last = p.end[size_t(c)] - 1;
      const bool forced = max_chunk > 0 && p.end[size_t(c)] - p.begin[size_t(c)] == max_chunk;
      EXPECT_TRUE(b[size_t(last)] || forced || last == T - 1);
      // No boundary inside a chunk.
      for (int t = p.begin[size_t(c)]; t < last; ++t) EXPECT_FALSE(b[size_t(t)]);
    }
    EXPECT_EQ(p.last_open, !(b[size_t(T - 1)] || (max_chunk > 0 && p.end.back() - p.begin.back() == max_chunk)));
  }
}

TEST(Chunking, HandMadeCase) {
  const ChunkPartition p = PartitionChunks({0, 1, 0, 0, 0, 0, 0, 1, 0}, 3);
  EXPECT_EQ(p.begin, (std::vector<int>{0, 2, 5, 8}));
  EXPECT_EQ(p.end, (std::vector<int>{2, 5, 8, 9}));
  EXPECT_TRUE(p.last_open);
  EXPECT_EQ(p.n_candidates(6), 2);
}

}  // namespace
}  // namespace chunkllm
