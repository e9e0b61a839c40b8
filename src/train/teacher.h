// The teacher of attention distillation (docs/method.md, "Teacher and distillation"): one dense
// pass of the frozen backbone over a sequence gives, for every layer l and query position t,
//   target_l(t, c) = sum_h sum_{j in c, j >= sink} A_l^h(t, j)  renormalised over the
//                    candidate chunks c < chunks.n_candidates(t),
// (the sink positions, which inference always reads, count for no chunk),
// plus the adapters' inputs attn_norm(h_{l-1}) and the Chunk Adapter's input h_1.
//
// Memory stays bounded: attention is formed for one block of queries and one layer at a time
// ((n_kv, Tq, H) floats, Tq = 256), summed over heads and aggregated into chunks by a matmul
// with the (n_kv, C) chunk-indicator matrix. Nothing of size T x T x H x L is ever held.
#pragma once

#include <cstdint>
#include <vector>

#include "chunk/chunking.h"

namespace chunkllm {

class Model;

struct TeacherOptions {
  int n_threads = 2;
  int query_block = 256;   // queries per aggregation graph
  bool keep_qk = false;    // also return post-RoPE q and k (for tests)
  int sink = 0;            // the first `sink` positions belong to no chunk's mass
};

struct TeacherOutput {
  int T = 0, D = 0, n_layer = 0, C = 0;
  std::vector<std::vector<float>> attn_in;  // n_layer x (T, D) row-major: adapter inputs
  std::vector<float> layer1;                // (T, D): Chunk Adapter input
  std::vector<std::vector<float>> target;   // n_layer x (T, C): zero outside the candidates
  // keep_qk only: n_layer x (T, H, Dh) and n_layer x (T, Hkv, Dh), as the KV cache holds k (f32).
  std::vector<std::vector<float>> q, k;
};

// Throws Error if the sequence does not fit the model's context or tokens are out of range.
TeacherOutput RunTeacher(const Model& model, const std::vector<int32_t>& tokens, const ChunkPartition& chunks,
                         const TeacherOptions& options);

}  // namespace chunkllm
