// `chunkllm train`: ChunkLLM's adapters for a frozen backbone (docs/method.md, "Adapters" to
// "Chunk boundaries").
//
// Each step takes one window of training text, runs the teacher (train/teacher.h) and trains,
// jointly, every layer's Q/K adapters by KL(teacher || chunk attention) and the Chunk Adapter
// by weighted BCE on sentence-end labels: one AdamW over the sum of the two losses. Their
// parameters are disjoint and the backbone is frozen, so each loss trains only its own part;
// joint training just shares the teacher pass (the expensive part) between them.
//
// Checkpoints every few minutes resume exactly (windows are a function of the step). Held-out
// windows give per-layer top-k recall and attention mass and boundary precision/recall/F1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chunk/adapter_set.h"
#include "train/adapter_evaluation.h"

namespace chunkllm {

struct AdapterTrainOptions {
  std::string model_path;
  std::vector<std::string> data_paths, val_paths;
  std::string output_path;           // adapters GGUF
  std::string checkpoint_path;       // default: output_path + ".ckpt"
  std::string report_dir;            // default: output_path + ".report"
  bool resume = false;
  AdapterHyperParams hp;             // d_adapter 0 = n_embd / 4
  int seq = 4096;                    // tokens per window (<= the model's training context)
  int64_t steps = 400;
  double lr = 2e-3, min_lr = 2e-4, weight_decay = 0.0, grad_clip = 1.0;
  int warmup_steps = 20;
  double pos_weight = 2.0;           // BCE weight of the positive (boundary) class
  double bce_weight = 1.0;           // weight of the Chunk Adapter loss in the sum
  int topk = AttentionOptions{}.topk;  // k of the recall metric: inference's k
  // The Q/K adapters' objective beyond the paper's KL (DistillObjective, adapter_evaluation.h):
  // KL against the teacher at this temperature, plus this weight times the top-`topk` set loss.
  double teacher_temperature = 1.0, topk_loss_weight = 0.0;
  // What inference always keeps (its --local chunks and --sink positions) is no candidate of
  // selection, so the teacher leaves it out too: the latest `local` completed chunks are no
  // candidates and the first `sink` positions count for no chunk (train/teacher.h).
  int local = AttentionOptions{}.local, sink = AttentionOptions{}.sink;
  int val_every = 50;                // steps between validations (and at the end)
  int val_windows = 4;               // held-out windows of `seq` tokens
  int n_threads = 2;
  double checkpoint_minutes = 5.0;
  int64_t stop_after_steps = -1;     // stop (with a checkpoint) after this many steps this run
  uint64_t seed = 1;
  bool show_progress = true;
};

struct AdapterTrainStep {
  int64_t step;
  double kl, bce, lr, recall, tokens_per_s;
};

struct AdapterTrainResult {
  std::vector<AdapterTrainStep> steps;
  std::vector<AdapterValidation> val;
  double train_seconds = 0;
  bool finished = false;
};

// Runs (or resumes) training; writes the adapters, the report (JSON + SVG) and checkpoints.
// Throws Error on bad options, data or files.
AdapterTrainResult RunAdapterTraining(const AdapterTrainOptions& options);

}  // namespace chunkllm
