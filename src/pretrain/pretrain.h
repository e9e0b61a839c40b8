// `chunkllm pretrain`: trains the demo backbone from random initialisation (libtorch, bf16
// autocast), with a sequence-length schedule, AdamW, a cosine learning rate, gradient clipping,
// timed checkpoints with exact resume, periodic validation, and a GGUF at the end.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pretrain/pretrain_data.h"
#include "pretrain/torch_llama.h"

namespace chunkllm {

// One phase of the schedule: `share` of the token budget at sequence length `seq` in batches
// of `batch` rows.
struct PretrainPhase {
  int seq = 512;
  int batch = 8;
  double share = 1.0;
};

// "512x8:0.6,2048x2:0.25,4096x1:0.15" -> phases; throws Error naming the bad part.
std::vector<PretrainPhase> ParsePhases(const std::string& text);

struct PretrainOptions {
  std::string vocab_path;             // tokenizer (and the output's vocab)
  std::string output_path;            // final GGUF
  std::string checkpoint_path;        // default: output_path + ".ckpt"
  bool resume = false;
  std::string init_from;              // warm start: a GGUF of the same shape (default: random init)
  TorchLlamaConfig model;
  PretrainDataOptions data;
  std::vector<PretrainPhase> phases = {{512, 8, 0.6}, {2048, 2, 0.25}, {4096, 1, 0.15}};
  int64_t total_tokens = 20'000'000;
  double lr = 1e-3, min_lr = 1e-4, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, grad_clip = 1.0;
  int warmup_steps = 200;
  // Rows per forward/backward (0: the whole batch). A step's batch is split into micro-batches
  // whose gradients add up to the whole batch's (as llama.cpp's -ub under -b): the same step,
  // in less memory. Not part of the run identity, since it does not change the arithmetic
  // beyond float rounding.
  int ubatch = 0;
  bool bf16 = true;
  int n_threads = 2;
  double checkpoint_minutes = 10.0;
  int val_every = 200;                // steps
  int val_windows = 16;               // validation windows of min(512, first phase seq) tokens
  int probe_docs = 8;                 // retrieval probe documents per task at each validation (0: none)
  int copy_probe_docs = 16;           // copy probe documents at each validation (0: none)
  int64_t stop_after_steps = -1;      // stop (with a checkpoint) after this many steps this run
  // Only write the outputs (GGUF, history, plot) of the checkpoint as it stands, e.g. to ship
  // an unfinished run at a session's end; the options must match the run's, as for --resume.
  bool export_checkpoint = false;
  uint64_t seed = 1;
  bool show_progress = true;
};

struct PretrainStep {
  int64_t step;
  int seq;
  double loss, lr, grad_norm, tokens_per_s;
};

struct PretrainResult {
  std::vector<PretrainStep> steps;              // every step's loss (whole run, across resumes)
  std::vector<std::pair<int64_t, double>> val;  // (step, validation loss)
  struct Probe {
    int64_t step;
    int seq;
    double accuracy;  // at the phase's sequence length
  };
  std::vector<Probe> probe;                     // RetrievalProbe: answers exactly right
  std::vector<Probe> copy;                      // CopyProbe: repeat tokens right
  int64_t tokens_seen = 0;
  double train_seconds = 0;                     // summed over resumed runs
  bool finished = false;                        // reached the token budget
};

// Runs (or resumes) training. Returns the history. Throws Error on bad options or data.
// At the end it writes OUTPUT.train.json (the history) and OUTPUT.loss.svg.
PretrainResult RunPretrain(const PretrainOptions& options);

// Draws the training and validation loss of a history file (OUTPUT.train.json) as SVG.
void WritePretrainLossPlot(const std::string& history_json_path, const std::string& svg_path);

}  // namespace chunkllm
