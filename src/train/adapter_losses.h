// Losses and metrics of adapter training (docs/method.md, "Chunk keys" to "Chunk boundaries"), as
// pure tensor functions so each can be gradient-checked on its own. The student's chunk score,
// which the KL compares with the teacher's, is in train/chunk_score.h.
//
// Shapes: L layers, T positions, r adapter width, C chunks. The candidates of a query at t are
// the completed chunks before t's own: c < chunk_of[t] (chunk/chunking.h).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "chunk/chunking.h"
#include "core/precision_recall.h"

namespace chunkllm {

// (T, C) bool: candidate chunks of every position.
torch::Tensor CandidateMask(const ChunkPartition& chunks);

// Chunk keys (L, C, r) from key features (L, T, r): the boundary token's feature ("boundary",
// the paper) or the mean over the chunk's tokens ("mean").
torch::Tensor ChunkKeys(const torch::Tensor& key_features, const ChunkPartition& chunks, const std::string& mode);

// (T) long: the row whose query scores row t's chunks. With ICAC a selection is made when a
// chunk ends, at its boundary token + delay (the Chunk Adapter's lookahead: the boundary is
// known only then), and serves every later token until the next one: row t is served by the
// latest such selection token before t; rows before the first one serve themselves. For the
// "served" query target (adapter_set.h) the student scores row t with query[ServingRows[t]].
// (Inference closes a chunk that max_chunk forces at its own last token, one token earlier than
// this with delay 1; sentences of prose rarely reach max_chunk.)
torch::Tensor ServingRows(const ChunkPartition& chunks, int delay);

// Per-layer KL(teacher || student) (L): sum over candidates, mean over rows with a candidate.
torch::Tensor ChunkKl(const torch::Tensor& target, const torch::Tensor& log_probs, const torch::Tensor& candidates);

// The teacher sharpened (temperature < 1) or flattened (> 1): target^(1 / temperature),
// renormalised over each row's candidates (rows without any stay 0). Top-k order is unchanged;
// a sharper target makes KL spend the student's scores on the teacher's leading chunks rather
// than on the tail, which is what top-k selection reads (ours; 1 is the paper's KL).
torch::Tensor SharpenTarget(const torch::Tensor& target, double temperature);

// Per-layer top-k set loss (L): -log of the student's probability on the teacher's k leading
// candidates, mean over rows with more than k candidates (0 when there is none). It rewards
// exactly what recall@k counts, the set, and is indifferent to the order within it and to the
// tail (ours).
torch::Tensor TopKSetLoss(const torch::Tensor& target, const torch::Tensor& log_probs, const ChunkPartition& chunks, int k);

// Mean binary cross-entropy of boundary logits (T) against labels (T, 0/1), positives
// weighted by pos_weight.
torch::Tensor BoundaryBce(const torch::Tensor& logits, const torch::Tensor& labels, double pos_weight);

// Top-k agreement of student and teacher, accumulated over rows with more than k candidates
// (fewer make recall trivially 1).
struct TopKStats {
  std::vector<double> recall_sum, mass_sum;  // per layer
  int64_t rows = 0;
  void Add(const torch::Tensor& log_probs, const torch::Tensor& target, const ChunkPartition& chunks, int k);
  double recall(size_t l) const { return rows ? recall_sum[l] / double(rows) : NAN; }
  double mass(size_t l) const { return rows ? mass_sum[l] / double(rows) : NAN; }
  double mean_recall() const;
  double mean_mass() const;
  std::vector<double> recalls() const;  // per layer
  std::vector<double> masses() const;
};

// The Chunk Adapter's boundary decisions (sigmoid(logits) > alpha) against the labels (> 0.5).
PrecisionRecall CountBoundaries(const torch::Tensor& logits, const torch::Tensor& labels, double alpha);

}  // namespace chunkllm
