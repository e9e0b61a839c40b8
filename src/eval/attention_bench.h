// `chunkllm bench-attention`: one layer stack's attention ops over a synthetic KV cache, timed
// against a streaming read of the same bytes (a decode step's floor) and, with --matmul, against
// ggml's matrix products of the same arithmetic (a prefill's ceiling). No model file: the shapes
// come from flags, so a kernel is measured at a 32K depth in seconds, not after a 32K prefill.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ggml.h"
#include "model/attention_kernel.h"

namespace chunkllm {

struct AttentionBenchParams {
  int n_kv = 32768;      // cache rows every query reads (the depth plus the batch)
  int n_layer = 8;       // one op per layer, each over its own cache (so the cache outgrows L3)
  int n_head = 6;        // query heads
  int n_head_kv = 2;     // KV heads (GQA group = n_head / n_head_kv)
  int head_dim = 64;
  int n_tokens = 1;      // queries per op: 1 is a decode step, 512 a prefill micro-batch
  ggml_type kv_type = GGML_TYPE_F16;
  std::vector<AttentionKernel> kernels = {AttentionKernel::kChunkllm, AttentionKernel::kGgml};
  bool matmul = false;   // also time QK^T and PV as two plain ggml products (layer 0's shapes)
  int n_threads = 2;
  int repetitions = 10;
  uint64_t seed = 1;
};

struct AttentionBenchRow {
  std::string what;            // a kernel's name, or "matmul"
  std::vector<double> seconds; // one per repetition, for all layers
  double flops = 0;            // per repetition: 4 Dh n_kv T H a layer (masked rows counted)
  double bytes = 0;            // per repetition: the K and V rows the ops read
};

struct AttentionBenchReport {
  AttentionBenchParams params;
  double read_bytes_per_s = 0;  // MeasureReadBandwidth in the same run
  std::vector<AttentionBenchRow> rows;
};

// Throws Error naming the flag for shapes the kernels cannot take or a cache beyond 16 GiB.
AttentionBenchReport RunAttentionBench(const AttentionBenchParams& p);
std::string FormatAttentionBenchMarkdown(const AttentionBenchReport& r);
std::string FormatAttentionBenchJson(const AttentionBenchReport& r);

}  // namespace chunkllm
