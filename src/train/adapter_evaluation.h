// Measuring adapters against the teacher: the windows as tensors (teacher pass + labels), the
// adapters' losses on a window, and the held-out metrics that training validates with and
// `chunkllm eval` reports (docs/method.md, "Chunk score" to "Chunk boundaries";
// docs/evaluation.md, "Adapter metrics"):
//   per layer, top-k recall of the teacher's chunks and the teacher attention mass the
//   student's top k cover; boundary precision, recall and F1 against the sentence splitter;
//   and, as a reference point, the same recall and mass for "the k most recent candidate
//   chunks", a selection that needs no adapter (what a recency-only policy would pick).
//
// Shapes: L layers, T positions, D width, C chunks (train/adapter_losses.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "chunk/adapter_set.h"
#include "chunk/chunking.h"
#include "chunk/attention_options.h"

namespace chunkllm {

class Model;
struct AdapterCorpus;
class AdapterModelImpl;

// One window: what the losses and metrics need.
struct AdapterBatch {
  ChunkPartition chunks;
  torch::Tensor x;        // (L, T, D) adapter inputs
  torch::Tensor h1;       // (T, D) Chunk Adapter input
  torch::Tensor target;   // (L, T, C) teacher chunk distribution over the candidates
  torch::Tensor cand;     // (T, C) bool
  torch::Tensor labels;   // (T) float 0/1 sentence ends
};

struct AdapterBatchOptions {
  int max_chunk = 64;
  // What inference always keeps is no candidate (adapter_trainer.h).
  int local = AttentionOptions{}.local, sink = AttentionOptions{}.sink;
  int n_threads = 2;
};

// Runs the teacher over tokens; chunks come from the labels (the splitter's sentences).
AdapterBatch MakeAdapterBatch(const Model& model, const std::vector<int32_t>& tokens,
                              const std::vector<uint8_t>& labels, const AdapterBatchOptions& options);

// The n fixed held-out windows of seq tokens, evenly spaced over the text, as batches: what
// training validates on and evaluation measures.
std::vector<AdapterBatch> HeldOutBatches(const Model& model, const AdapterCorpus& held_out, int n, int seq,
                                         const AdapterBatchOptions& options);

// What the Q/K adapters are trained to minimise. The paper's is KL(teacher || student) alone
// (temperature 1, top-k weight 0); ours adds knobs (adapter_losses.h): the KL against a
// sharpened teacher, plus a weighted top-k set loss.
struct DistillObjective {
  double teacher_temperature = 1.0;
  double topk_weight = 0.0;
  int topk = AttentionOptions{}.topk;
};

struct AdapterLosses {
  torch::Tensor kl;               // (L) KL(teacher || student) per layer
  torch::Tensor distill;          // (L) the DistillObjective per layer (kl itself when the paper's)
  torch::Tensor bce;              // scalar boundary BCE
  torch::Tensor logp;             // (L, T, C) student chunk log-probabilities
  torch::Tensor boundary_logits;  // (T - boundary_delay): whether token i ends a chunk
  torch::Tensor boundary_labels;  // (T - boundary_delay): the labels they are scored against
};

AdapterLosses AdapterForward(const AdapterModelImpl& m, const AdapterBatch& b, double pos_weight,
                             const DistillObjective& objective = {});

struct AdapterValidation {
  int64_t step = 0;
  double kl = 0, bce = 0;
  std::vector<double> recall, mass;  // per layer, top-k
  double mean_recall = 0, mean_mass = 0;
  double precision = 0, recall_boundary = 0, f1 = 0;
  // The k most recent candidates, per layer (NaN when read from a record that lacks them).
  std::vector<double> recency_recall, recency_mass;
  double mean_recency_recall = 0, mean_recency_mass = 0;
  // The mass the teacher's own top k hold, per layer: the most any k chunks could cover (NaN
  // when read from a record that lacks it).
  std::vector<double> teacher_mass;
  double mean_teacher_mass = 0;
};

AdapterValidation ValidateAdapters(const AdapterModelImpl& m, const std::vector<AdapterBatch>& windows, int topk,
                                   double pos_weight, int64_t step);

struct AdapterEvalOptions {
  int windows = 4;    // held-out windows, evenly spaced over the text
  int seq = 1024;     // tokens per window
  int topk = AttentionOptions{}.topk;
  AdapterBatchOptions batch;
};

// Throws Error naming --adapter-windows / --adapter-seq unless windows > 0 and 16 <= seq <= the
// model's training context (`chunkllm eval` calls it before its long run).
void CheckAdapterEvalOptions(const Model& model, const AdapterEvalOptions& options);

// The metrics of a trained adapter set on held-out text (which must not be training text);
// its bce is unweighted (positive-class weight 1), its step 0.
AdapterValidation EvaluateAdapters(const Model& model, const AdapterSet& adapters, const AdapterCorpus& held_out,
                                   const AdapterEvalOptions& options);

}  // namespace chunkllm
