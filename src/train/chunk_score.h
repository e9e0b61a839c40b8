// The student's chunk score in libtorch, the twin of inference's chunk/chunk_score.h: the same
// formula, each term a function of the same name, written over a whole training window at once
// so that training differentiates it (docs/method.md, "Chunk score"):
//
//   logit_g(t, c) = RotateFeatures(q_t)[g] . RotateFeatures(k)_c[g] / sqrt(r/G)
//                 + DistanceBias + QueryDistanceScore + LengthBias + LogFeatureScore
//   log p(t, c)   = ChunkLogProbs over t's candidates
//
// ChunkScores puts them together for the adapters' model; a new score term is a function here
// and its twin in chunk/chunk_score.cpp, each added in its ChunkScores. The tests hold each pair
// equal (tests/train/test_adapter_runtime.cpp, tests/chunk/test_policy_selection.cpp).
//
// Shapes: L layers, T positions, r adapter width, C chunks, B distance buckets. The candidates of
// a query at t are the completed chunks before t's own: c < chunk_of[t] (chunk/chunking.h).
#pragma once

#include <torch/torch.h>

#include "chunk/chunking.h"

namespace chunkllm {

class AdapterModelImpl;

// (T, C) long: the distance bucket of chunk c for a query at t (chunk/chunk_distance.h),
// bucket(chunk_of[t] - c); 0 where c is no candidate.
torch::Tensor DistanceBuckets(const ChunkPartition& chunks, int n_buckets);

// (L, T, C) score bias from per-layer bucket biases (L, B) and DistanceBuckets (T, C).
torch::Tensor DistanceBias(const torch::Tensor& layer_bias, const torch::Tensor& buckets);

// (L, 1, C) score bias w_l * log(tokens in chunk c), from per-layer weights (L).
torch::Tensor LengthBias(const torch::Tensor& layer_weight, const ChunkPartition& chunks);

// (L, T, C) score term q_t . E_l[bucket(t, c)] / sqrt(r) of the query-dependent distance score,
// for queries (L, T, r), distance embeddings (L, B, r) and DistanceBuckets (T, C).
torch::Tensor QueryDistanceScore(const torch::Tensor& query, const torch::Tensor& embeddings,
                                 const torch::Tensor& buckets);

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

// Student chunk log-probabilities (L, T, C): log softmax over candidates of
// q . k / sqrt(r) (+ bias (L, T | 1, C) when defined); with G score groups (adapter_set.h)
// the log of the mean of G such softmaxes, group g scoring with features [g r/G, (g+1) r/G)
// and 1/sqrt(r/G). 0 outside the candidates (and on rows without any), so they add nothing
// to sums.
torch::Tensor ChunkLogProbs(const torch::Tensor& query_features, const torch::Tensor& chunk_keys,
                            const torch::Tensor& candidates, const torch::Tensor& bias = {}, int groups = 1);

// The student's chunk log-probabilities (L, T, C) of the adapters m on a window: x (L, T, D) the
// adapter inputs, its chunks and their candidate mask (T, C). With the served query target each
// row is scored with its serving row's query (ServingRows, train/adapter_losses.h).
torch::Tensor ChunkScores(const AdapterModelImpl& m, const torch::Tensor& x, const ChunkPartition& chunks,
                          const torch::Tensor& candidates);

}  // namespace chunkllm
