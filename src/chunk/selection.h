// Chunk selection at a boundary (docs/method.md, "Selection"): each layer ranks the candidate
// chunks by its score and votes for its best ones; the shared set is the best chunks by votes
// (ties: higher mean score, then the later chunk). Without the vote each layer keeps its own best.
//
// How many is "best" is the budget: the paper's k chunks, or (ours, `--budget-tokens`) chunks
// in rank order until they hold a number of tokens. A count of chunks reads very different
// amounts of text: 8 chunks of 5-token filler sentences are 40 tokens, 8 prose sentences 250.
//
// Per-layer additions (ours, `--layer-topk M`): with the vote, each layer also reads its own
// best M chunks that the shared set lacks. Retrieval is often the work of one layer's heads:
// at the step that copies a needle, one layer of the demo backbone puts all its attention on
// the needle's sentence while the other seven look elsewhere, so the needle gets one vote of
// eight and loses (docs/benchmarks.md, "where niah_single was lost").
#pragma once

#include <vector>


namespace chunkllm {

// The budget's knobs as AttentionOptions holds them (topk, budget_tokens, layer_topk resolved).
struct SelectionBudget {
  int chunks = 0;  // tokens == 0: the top `chunks` chunks (paper's top-k)
  int tokens = 0;  // > 0: chunks in rank order while the taken ones hold fewer than `tokens`
                   // tokens (the last one taken may pass it)
  int layer_chunks = 0;  // with the vote: each layer adds its own top `layer_chunks` (by count)
};

// scores: [layer][candidate] (any real scale; only the order and the mean are used);
// candidate_tokens: [candidate] its length in tokens (used only by a token budget).
// Returns [layer][selected candidate indices, ascending]; with vote, every layer's list is
// the shared set plus (layer_chunks > 0) the layer's own additions. A budget larger than the
// candidates: all of them.
std::vector<std::vector<int>> SelectChunks(const std::vector<std::vector<float>>& scores,
                                           const std::vector<int>& candidate_tokens, const SelectionBudget& budget,
                                           bool vote);

}  // namespace chunkllm
