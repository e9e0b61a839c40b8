// Sparse prefill (ours, beyond the paper; docs/method.md "Sparse prefill"): what one micro-batch
// of a prompt reads in one layer. The paper prefills densely, so a prompt's cost grows with its
// square; here a batch of T tokens at positions [pos0, pos0 + T) reads, in layer l,
//   the sink              positions [0, sink)
//   the selected chunks   completed chunks ranked by layer l's adapter score for the batch's
//                         queries (their mean q . k; with query groups, the batch split into
//                         groups of consecutive tokens and a chunk ranked by its best group's
//                         normalised score), taken in rank order until they hold `budget`
//                         tokens (the last one may pass it)
//   the window            the chunks that end within `window` tokens before pos0, and the open
//                         chunk (begun before pos0, not yet closed)
//   the batch itself      causally
// The selection is per layer: layer l's queries exist only once layers < l have run, so a vote
// over every layer's scores, as decode makes, cannot be had before layer l's attention.
#pragma once

#include <utility>
#include <vector>

#include "chunk/adapter_set.h"
#include "chunk/chunk_index.h"
#include "chunk/chunk_score.h"
#include "ggml.h"

namespace chunkllm {

struct PrefillKnobs {
  int sink = 0;
  int budget = 0;  // tokens of selected chunks
  int window = 0;  // tokens before the batch, in whole chunks
};

// One group of a batch's queries in one layer: their sums (chunk_score.h) and mean position.
struct PrefillQuery {
  SummedQueries q;
  int pos = 0;
};

// The groups of a batch of T tokens: `groups` ranges of consecutive tokens as even as can be
// (0 or more than T: one a token), each [first, second).
std::vector<std::pair<int, int>> PrefillQueryGroups(int T, int groups);

// Layer l's score of each candidate for the groups: with one group its score (ChunkScores);
// with several, each group's scores normalised over the candidates (log-softmax, so that no
// group counts more for the scale of its logits), and per candidate the largest. last_token:
// each candidate's last position; cand.token_distance is set from it for each group in turn.
void PrefillChunkScores(const AdapterSet& a, int l, const std::vector<PrefillQuery>& groups, const float* keys,
                        const std::vector<int>& last_token, ChunkCandidates& cand, std::vector<float>& out);

// The most positions PrefillPositions returns for a batch of T tokens, with chunks of at most
// max_chunk tokens: the gathered cache's rows.
int PrefillRowsBound(const PrefillKnobs& k, int max_chunk, int T);

// Layer l's positions (ascending) for the batch [pos0, pos0 + T), whose queries in layer l are
// `groups` (PrefillQuery). The index holds the chunks closed before pos0.
std::vector<int> PrefillPositions(const AdapterSet& a, const ChunkIndex& index, int layer,
                                  const std::vector<PrefillQuery>& groups, int pos0, int T, const PrefillKnobs& k);

// The attention mask (n_kv, T) row-major over gathered rows holding `positions` (ascending,
// the batch's own last): token i of the batch reads every position before pos0 and the batch's
// positions up to its own; rows past positions.size() are padding. 0 = read, -inf = skip.
void PrefillMask(const std::vector<int>& positions, int pos0, int T, int n_kv, ggml_fp16_t* mask);

}  // namespace chunkllm
