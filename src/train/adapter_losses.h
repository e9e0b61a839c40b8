// Losses and metrics of adapter training (docs/method.md, "Chunk keys" to "Chunk boundaries"), as
// pure tensor functions so each can be gradient-checked on its own.
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

// (T, C) long: the distance bucket of chunk c for a query at t (chunk/chunk_distance.h),
// bucket(chunk_of[t] - c); 0 where c is no candidate.
torch::Tensor DistanceBuckets(const ChunkPartition& chunks, int n_buckets);

// (L, T, C) score bias from per-layer bucket biases (L, B) and DistanceBuckets (T, C).
torch::Tensor DistanceBias(const torch::Tensor& layer_bias, const torch::Tensor& buckets);

// (L, 1, C) score bias w_l * log(tokens in chunk c), from per-layer weights (L).
torch::Tensor LengthBias(const torch::Tensor& layer_weight, const ChunkPartition& chunks);

// Features (L, T, r) with the first `dims` rotated in pairs (2i, 2i+1) by angle
// position(t) * base^(-2i/dims), position(t) = t (ggml_rope_ext's normal mode).
torch::Tensor RotateFeatures(const torch::Tensor& features, int dims, double base);

// (T, C, 2): the log features of chunk c for a query at t (AdapterHyperParams::query_features):
// log(tokens in c) and log(t - last token of c); 0 where c is no candidate.
torch::Tensor LogFeatures(const ChunkPartition& chunks);

// (L, T, C) score term of the log features f (T, C, 2) for queries (L, T, r), embeddings
// (L, 2, r) and the per-layer distance weight w (L): (q . u / sqrt(r)) f0 + (w + q . v / sqrt(r)) f1.
torch::Tensor LogFeatureScore(const torch::Tensor& query, const torch::Tensor& embeddings,
                              const torch::Tensor& distance_weight, const torch::Tensor& features);

// (T) long: the row whose query scores row t's chunks. With ICAC a selection is made when a
// chunk ends, at its boundary token + delay (the Chunk Adapter's lookahead: the boundary is
// known only then), and serves every later token until the next one: row t is served by the
// latest such selection token before t; rows before the first one serve themselves. For the
// "served" query target (adapter_set.h) the student scores row t with query[ServingRows[t]].
// (Inference closes a chunk that max_chunk forces at its own last token, one token earlier than
// this with delay 1; sentences of prose rarely reach max_chunk.)
torch::Tensor ServingRows(const ChunkPartition& chunks, int delay);

// Student chunk log-probabilities (L, T, C): log softmax over candidates of
// q . k / sqrt(r) (+ bias (L, T | 1, C) when defined); with G score groups (adapter_set.h)
// the log of the mean of G such softmaxes, group g scoring with features [g r/G, (g+1) r/G)
// and 1/sqrt(r/G). 0 outside the candidates (and on rows without any), so they add nothing
// to sums.
torch::Tensor ChunkLogProbs(const torch::Tensor& query_features, const torch::Tensor& chunk_keys,
                            const torch::Tensor& candidates, const torch::Tensor& bias = {}, int groups = 1);

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
