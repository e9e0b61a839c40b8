// ServerState: what the HTTP routes share: the options, the loaded model and tokenizer, the
// methods' policy specs, the scheduler and the metrics. Filled by Server::Load; `ready` tells the
// routes that it is (it is set last, and nothing loaded changes after it).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "model/model.h"
#include "serve/policy_specs.h"
#include "serve/scheduler.h"
#include "serve/serve_options.h"
#include "serve/server_metrics.h"
#include "text/tokenizer.h"

namespace chunkllm::serve {

struct ServerState {
  ServeOptions options;
  ServerMetrics metrics;
  std::atomic<bool> ready{false};

  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<PolicySpecs> specs;
  std::unique_ptr<Scheduler> scheduler;
  std::string model_id;       // the model file's name, as /v1/models lists it
  int64_t created = 0;        // when it was loaded (Unix seconds)
  std::string chat_template;  // --chat-template, or empty for the model's own
  size_t max_prompt_bytes = 0;  // the longest prompt text that -c tokens can hold
};

}  // namespace chunkllm::serve
