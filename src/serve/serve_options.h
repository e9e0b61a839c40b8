// ServeOptions: what `chunkllm serve` is started with (cli/cmd_serve.cpp parses the flags).
#pragma once

#include <cstddef>
#include <string>

#include "chunk/attention_options.h"
#include "model/session.h"

namespace chunkllm::serve {

struct ServeOptions {
  std::string model_path;   // -m
  std::string host = "127.0.0.1";
  int port = 8080;          // 0: any free port (printed at start-up)
  int n_slots = 4;          // -np: sequences served at once, each with its own KV cache
  int max_queue = 16;       // requests waiting for a slot beyond which the server answers 503
  SessionParams session{.n_ctx = 32768};  // -c is each slot's context; -t, -u, --cache-type, --attn-kernel
  AttentionOptions attention;  // the default method (--attn; ChunkLLM when --adapters is given) and its knobs
  std::string api_key;      // --api-key / --api-key-file; empty: no key asked
  std::string chat_template;  // --chat-template: a template name libllama knows; empty: the model's, else chatml
  size_t max_body_bytes = 0;  // --max-body: 0 = what a prompt of -c tokens can take, escaped
  int http_threads = 0;     // 0: enough for every slot, the queue and a few more connections
};

}  // namespace chunkllm::serve
