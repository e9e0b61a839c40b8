// `chunkllm eval`: long-context tasks run by every attention method on the same samples in one
// run, scored with string_match_all, with a report folder (docs/evaluation.md):
//   config.json, results.jsonl (one row per sample and method), summary.json, summary.md,
//   heatmap-<method>.svg (accuracy by length and depth), speed.svg (decode tokens/s against
//   context length), accuracy-vs-attended.svg; with fidelity windows, fidelity.jsonl and
//   kl-vs-attended.svg (eval/fidelity.h); with adapters, their per-layer top-k recall against
//   the teacher, boundary F1 (summary "adapters") and adapter-recall.svg.
//
// Protocol: the prompt is context + question + answer prefix, tokenized as one text with BOS
// and prefilled (densely, or with --prefill sparse chunk-sparse; sparse methods select at its last token); then up
// to max_new_tokens tokens are decoded greedily, stopping at the end of text or at a newline
// once something was generated.
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "chunk/attention_options.h"
#include "eval/fidelity.h"

namespace chunkllm {

class Tokenizer;

// The adapters' held-out metrics (recall against the teacher, boundary F1) are measured by the
// training layer (train/adapter_evaluation.h, libtorch), which eval does not link: the caller
// hands eval a function that reads and checks the inputs at once and returns the measurement to
// run after the tasks. Without one (a build without training) they are skipped with a note.
struct AdapterMetricsRequest {
  std::string adapters, text;  // adapter GGUF; held-out text (file or folder)
  int windows = 0, seq = 0;    // windows of seq tokens
  int topk = 0, local = 0, sink = 0, n_threads = 2;
};
using AdapterMetricsFn =
    std::function<std::function<nlohmann::json()>(const Model&, const Tokenizer&, const AdapterMetricsRequest&)>;

struct EvalOptions {
  std::string model_path;
  std::string tasks_path;                 // --tasks FILE.jsonl (else generate)
  std::string dump_path;                  // --dump FILE.jsonl: write the generated tasks and stop
  std::vector<std::string> tasks = {"passkey"};
  std::vector<int> lengths = {1024, 2048, 4096};
  std::vector<double> depths = {0, 0.25, 0.5, 0.75, 1.0};
  int samples = 1;                        // per (task, length, depth)
  uint64_t seed = 1;
  std::string haystack_dir = "data/corpus/test";
  std::vector<AttentionMethod> methods = {AttentionMethod::kDense};
  AttentionOptions attention;             // knobs of the sparse methods (its method, prefill: unused)
  // --prefill a,b: each ChunkLLM method once per prefill mode, named "<method>+dense-prefill" for
  // dense (sparse, the default, keeps the plain name); the other methods prefill densely once.
  std::vector<PrefillMode> prefills = {PrefillMode::kSparse};
  FidelityOptions fidelity{{}, 2, 256, ""};  // lengths empty: the task lengths; text_dir empty: the haystack
  // With --adapters: the adapters' held-out metrics on this many windows of adapter_seq tokens
  // of the fidelity text (0: not measured), by adapter_metrics (null: not in this build).
  int adapter_windows = 4, adapter_seq = 1024;
  AdapterMetricsFn adapter_metrics;
  std::string out_dir;                    // -o DIR
  int n_threads = 2;
  bool show_progress = true;
};

// Runs the evaluation (or only writes the tasks with dump_path). Throws Error on bad input.
void RunEval(const EvalOptions& options);

}  // namespace chunkllm
