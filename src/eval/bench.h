// `chunkllm bench`: prompt-processing (pp) and generation (tg) speed at given context
// depths, llama-bench style, optionally side by side with libllama on the same file.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "chunk/attention_options.h"
#include "ggml.h"
#include "model/attention_kernel.h"

namespace chunkllm {

struct BenchParams {
  std::string model_path;
  std::vector<int> n_prompt = {512};  // -p; 0 skips pp
  std::vector<int> n_gen = {128};     // -n; 0 skips tg
  std::vector<int> depths = {0};      // -d: tokens already in the cache before the test
  int n_threads = 2;
  int repetitions = 5;
  int n_ubatch = 512;
  ggml_type kv_type = GGML_TYPE_F16;
  // --attn-kernel a,b: one engine per kernel and method (model/split_kv_attention.h), so the
  // kernels are compared in one run; each row names its kernel, and ratios pair rows of one kernel.
  std::vector<AttentionKernel> kernels = {AttentionKernel::kChunkllm};
  bool with_reference = false;        // --ref: libllama in the same run
  // -np a,b: sequences decoded together (model/session_batch.h), as a server's busy slots; a tg
  // row of P sequences appends a token to each per step, in one batch, and counts P tokens.
  std::vector<int> parallel = {1};
  std::vector<AttentionMethod> methods = {AttentionMethod::kDense};  // --attn a,b,c: one engine per method
  AttentionOptions attention;         // knobs of the sparse methods (its method and prefill: unused)
  // --prefill a,b: for each ChunkLLM method (but the oracle) one engine per prefill mode; the
  // other methods prefill densely once (MakePolicySpecs). Default: sparse, as `run`.
  std::vector<PrefillMode> prefills = {PrefillMode::kSparse};
  // --text DIR: the context is held-out prose from DIR's .txt files (BOS, then the stream);
  // empty: random token ids, as llama-bench uses. Sentence-level chunking only shows on text.
  std::string text_dir;
  bool show_progress = true;
};

// Peaks over a tg test's timed decode steps, sampled after every step (weights excluded: all
// methods share them). kv_used: K/V rows in use (full cache while resident + gathered rows of
// every layer); held: what the engine holds for them and for its graph (KV buffers are
// sized for the whole context up front, as llama.cpp does; an evicting policy frees the full one).
struct MemoryPeak {
  double kv_used_mib = 0;
  double held_mib = 0;
};

struct BenchRow {
  std::string test;    // "pp" or "tg"
  int n_prompt = 0;
  int n_gen = 0;
  int depth = 0;
  std::string engine;  // "chunkllm" or "llama.cpp"
  std::string kernel;  // ours: the decode attention kernel (--attn-kernel)
  std::string method = "dense";  // attention method (ours)
  std::string prefill = "dense";  // ours: the prefill mode (--prefill)
  int parallel = 1;                // sequences decoded together (-np); tokens/s counts all of them
  // KV positions read / positions cached: per decode step (tg), or per prompt token over its
  // causal past (pp)
  double attended_fraction = 1.0;
  MemoryPeak memory;               // tg rows of our engine only
  // tg rows: the bytes one decode step must read (weights, and for each of its -np sequences the
  // K/V rows attended and what the policy reads beside attention), and the measured step time
  // (-np tokens) over the time those bytes take
  // at the read bandwidth measured in the same run (1 = at the memory floor).
  double step_bytes = 0;
  double over_floor = 0;
  double tokens_per_s = 0;     // mean over repetitions
  double tokens_per_s_sd = 0;  // sample standard deviation
  std::vector<double> samples;
};

struct BenchReport {
  BenchParams params;
  std::string model_desc;  // "llama 30M f16"
  size_t model_bytes = 0;
  uint64_t n_params = 0;
  double peak_rss_mib = 0;  // the whole process (weights, every engine) at the end: VmHWM
  double read_bytes_per_s = 0;  // memory read bandwidth with the bench's threads, measured first
  std::vector<BenchRow> rows;
};

BenchReport RunBench(const BenchParams& params);
std::string FormatBenchMarkdown(const BenchReport& report);
std::string FormatBenchJson(const BenchReport& report);

}  // namespace chunkllm
