// Chunk selection on hand-made scores: the vote, its tie-breaks, per-layer selection without
// it, per-layer additions to the vote (layer_chunks), and the token budget (chunks in rank
// order until they hold the budget's tokens). A token budget over one-token chunks must be the
// top-k of the same size, on random scores.
#include <gtest/gtest.h>

#include <random>

#include "chunk/selection.h"
#include "core/error.h"

namespace chunkllm {
namespace {

using Picks = std::vector<std::vector<int>>;

TEST(Selection, TopKPerLayerWithoutVote) {
  const std::vector<std::vector<float>> s = {{0.1f, 0.9f, 0.5f, 0.7f}, {0.8f, 0.2f, 0.6f, 0.1f}};
  EXPECT_EQ(SelectChunks(s, {}, {2, 0}, false), (Picks{{1, 3}, {0, 2}}));
  EXPECT_EQ(SelectChunks(s, {}, {9, 0}, false), (Picks{{0, 1, 2, 3}, {0, 1, 2, 3}}));  // k > candidates
  // Equal scores: the later chunk wins.
  EXPECT_EQ(SelectChunks({{0.5f, 0.5f, 0.5f}}, {}, {1, 0}, false), (Picks{{2}}));
}

TEST(Selection, VoteTakesMostVotesThenHigherMeanScore) {
  // Top-2 per layer: {0,1}, {0,2}, {0,3}. Chunk 0 has three votes; 1, 2 and 3 one each, so the
  // second place goes to the highest mean score: chunk 2 (0.6 + 0.7 + 0.0) / 3.
  const std::vector<std::vector<float>> s = {{0.9f, 0.8f, 0.6f, 0.0f}, {0.9f, 0.0f, 0.7f, 0.1f},
                                             {0.9f, 0.1f, 0.0f, 0.5f}};
  EXPECT_EQ(SelectChunks(s, {}, {2, 0}, true), (Picks{{0, 2}, {0, 2}, {0, 2}}));
  EXPECT_EQ(SelectChunks(s, {}, {1, 0}, true), (Picks{{0}, {0}, {0}}));
}

TEST(Selection, LayerChunksAddEachLayersOwnBestToTheVotedSet) {
  // Top-1 per layer: 0, 0, 3. The vote takes 0; layer 2 adds its own 3, layers 0 and 1 have
  // theirs already. With two own chunks: layer 0 adds 1, layer 1 adds 2, layer 2 adds 3 (and
  // has 0 from the vote).
  const std::vector<std::vector<float>> s = {{0.9f, 0.8f, 0.6f, 0.0f}, {0.9f, 0.0f, 0.7f, 0.1f},
                                             {0.2f, 0.1f, 0.0f, 0.5f}};
  EXPECT_EQ(SelectChunks(s, {}, {1, 0, 1}, true), (Picks{{0}, {0}, {0, 3}}));
  EXPECT_EQ(SelectChunks(s, {}, {1, 0, 2}, true), (Picks{{0, 1}, {0, 2}, {0, 3}}));
  // Zero: the shared set alone.
  EXPECT_EQ(SelectChunks(s, {}, {1, 0, 0}, true), (Picks{{0}, {0}, {0}}));
}

TEST(Selection, TokenBudgetTakesChunksInRankOrderUntilFull) {
  const std::vector<std::vector<float>> s = {{0.4f, 0.9f, 0.1f, 0.7f, 0.3f}};  // rank: 1, 3, 0, 4, 2
  const std::vector<int> len = {5, 10, 30, 4, 6};
  auto pick = [&](int tokens) { return SelectChunks(s, len, {8, tokens}, false)[0]; };
  EXPECT_EQ(pick(10), (std::vector<int>{1}));           // 10 tokens: full
  EXPECT_EQ(pick(11), (std::vector<int>{1, 3}));        // 14
  EXPECT_EQ(pick(15), (std::vector<int>{0, 1, 3}));     // 19: the last one may pass the budget
  EXPECT_EQ(pick(20), (std::vector<int>{0, 1, 3, 4}));  // 25
  EXPECT_EQ(pick(1000), (std::vector<int>{0, 1, 2, 3, 4}));
  // The budget, not k, decides: 8 chunks were asked for, 1 fills the budget.
  EXPECT_EQ(pick(1).size(), 1u);
  // With the vote, layers vote for their budget's chunks and the shared set fills the budget.
  const std::vector<std::vector<float>> two = {{0.4f, 0.9f, 0.1f, 0.7f, 0.3f}, {0.9f, 0.1f, 0.2f, 0.8f, 0.3f}};
  // Layer 0 votes {1, 3} (10 + 4 tokens), layer 1 {0, 3, 4} (5 + 4 = 9 < 11, so chunk 4 too):
  // votes 3:2, then 0, 1, 4 with one each, ordered by mean score 0.65, 0.5, 0.3. Filling 11
  // tokens: 3 (4), 0 (9), 1 (19).
  EXPECT_EQ(SelectChunks(two, len, {8, 11}, true), (Picks{{0, 1, 3}, {0, 1, 3}}));
  EXPECT_THROW(SelectChunks(two, {1, 2}, {8, 11}, true), Error);  // lengths do not match
}

TEST(Selection, TokenBudgetOverOneTokenChunksIsTopKOfThatSize) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int trial = 0; trial < 50; ++trial) {
    // k up to n: a token budget past 16 one-token chunks makes Take grow its ordered prefix.
    const int n = 1 + int(rng() % 40), layers = 1 + int(rng() % 4), k = 1 + int(rng() % 40);
    std::vector<std::vector<float>> s(size_t(layers), std::vector<float>(size_t(n), 0.0f));
    for (auto& row : s)
      for (float& v : row) v = float(int(u(rng) * 8)) / 8;  // coarse: many ties
    const std::vector<int> ones(size_t(n), 1);
    for (bool vote : {false, true}) {
      EXPECT_EQ(SelectChunks(s, ones, {99, k}, vote), SelectChunks(s, {}, {k, 0}, vote)) << trial;
    }
  }
}

}  // namespace
}  // namespace chunkllm
