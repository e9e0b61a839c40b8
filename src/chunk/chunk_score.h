// The chunk score at inference (docs/method.md, "Chunk score"; the formulas and tensors in
// docs/formats.md): how layer l scores a candidate chunk c for a selection's queries q_i
// (n_q of them, at positions t_i; one unless --select-query recent), with its key k_c:
//
//   logit_g(c) = (1/n_q) sum_i RotateFeatures(q_i, t_i)[g] . k_c[g] / sqrt(r/G)   q . k, group g
//              + DistanceBias + QueryDistanceScore + LengthBias + LogFeatureScore  the score terms
//   score(c)   = ChunkLogProbs(logit_1..G)(c)
//
// The key k_c was rotated by its tokens' positions in the forward graph (the ggml overload of
// RotateFeatures, which chunk/adapter_graph.h calls). Each term is 0 for adapters trained without
// it (adapter_set.h says which), so the paper's score is q . k / sqrt(r) alone.
//
// Every function here has a torch twin of the same name in train/chunk_score.h, which training
// differentiates; the tests hold each pair equal. A new score term is a function here and its
// twin there, each added in its ChunkScores: one file per runtime.
#pragma once

#include <vector>

#include "chunk/adapter_set.h"
#include "ggml.h"

namespace chunkllm {

// Rotates the first hp.rope_dims of the r features f in place by position pos: pairs (2i, 2i+1)
// by pos * base^(-2i/rope_dims), RoPE's normal mode with ggml's float recurrence for the angles,
// so a query rotated here meets keys rotated in the graph. Nothing without rope_dims.
void RotateFeatures(const AdapterHyperParams& hp, int pos, float* f);
// The same rotation in the forward graph: features (r, T) of tokens at positions pos (I32 [T])
// -> (r, T). Returns features itself without rope_dims.
ggml_tensor* RotateFeatures(ggml_context* ctx, const AdapterHyperParams& hp, ggml_tensor* features, ggml_tensor* pos);

// The learned bias b_l[bucket(distance)] of a candidate `distance` chunks back
// (chunk/chunk_distance.h); 0 without distance buckets.
float DistanceBias(const AdapterSet& a, int layer, int distance);
// q . E_l[bucket(distance)] / sqrt(r) for the query q (r floats); 0 without query_distance.
float QueryDistanceScore(const AdapterSet& a, int layer, int distance, const float* query);
// w_l log(tokens) of a candidate of `tokens` tokens; 0 without the length bias.
float LengthBias(const AdapterSet& a, int layer, int tokens);
// (q . u_l / sqrt(r)) log(tokens) + (w_l + q . v_l / sqrt(r)) log(token_distance) of a candidate
// of `tokens` tokens whose last token lies token_distance positions before the query q (r floats;
// a distance below 1 counts as 1); 0 without query_features.
float LogFeatureScore(const AdapterSet& a, int layer, int tokens, int token_distance, const float* query);

// logits (G, n), group g's logits of n candidates -> out (n) = log((1/G) sum_g softmax(logits_g)).
// One group: out = logits, which rank as their log-softmax does (it differs by one shift for all).
void ChunkLogProbs(const std::vector<float>& logits, int groups, std::vector<float>& out);

// What the score terms read of each candidate of one selection (n candidates).
struct ChunkCandidates {
  std::vector<int> chunk;           // its index in the chunk index
  std::vector<int> distance;        // chunks back from the open chunk, whose tokens the selection serves
  std::vector<int> tokens;          // its length in tokens
  std::vector<int> token_distance;  // the latest query's position - its last token's
};

// A selection's queries in one layer: (n_q, r) row-major and each one's position.
struct ChunkQueries {
  const float* q = nullptr;
  int n_q = 0;
  const int* positions = nullptr;  // (n_q)
};

// A selection's queries in one layer as scoring reads them: the mean of the queries (the score
// terms read it, position-free) and the sum of the queries each rotated by its own position
// (q . k, summed over the queries before the product: the same sum of products).
struct SummedQueries {
  std::vector<float> mean;         // (r)
  std::vector<float> rotated_sum;  // (r)
  int n_q = 0;
};
SummedQueries SumQueries(const AdapterSet& a, const ChunkQueries& queries);
// The same of n_q queries' features (n_q, r) and the features each rotated by its position
// (n_q, r), as the forward graph gives them.
SummedQueries SumQueries(int r, int n_q, const float* features, const float* rotated);

// Layer l's scores (n) of the candidates, whose keys are rows of keys (C, r).
void ChunkScores(const AdapterSet& a, int layer, const ChunkQueries& queries, const float* keys,
                 const ChunkCandidates& candidates, std::vector<float>& out);
void ChunkScores(const AdapterSet& a, int layer, const SummedQueries& queries, const float* keys,
                 const ChunkCandidates& candidates, std::vector<float>& out);

}  // namespace chunkllm
