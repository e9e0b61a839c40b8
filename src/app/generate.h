// `chunkllm run`: tokenize a prompt, prefill it, and stream a sampled continuation.
#pragma once

#include <string>

#include "chunk/attention_options.h"
#include "model/session.h"
#include "text/sampler.h"

namespace chunkllm {

struct GenerateOptions {
  std::string model_path;
  std::string prompt;        // -p
  std::string prompt_file;   // -f (used when prompt is empty)
  int n_predict = 128;       // -n; < 0 means until end of generation or a full context
  bool chat = false;         // wrap the prompt in the model's chat template
  bool show_progress = true;
  SessionParams session;
  SamplerParams sampler;
  AttentionOptions attention;  // --attn and its knobs
};

// Streams generated text to stdout and prints speeds on stderr. Throws Error on bad input.
void RunGenerate(const GenerateOptions& options);

}  // namespace chunkllm
