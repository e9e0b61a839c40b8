// libllama/ggml logging: quiet by default (only errors), verbose on request.
#pragma once

namespace chunkllm {

// Initialises libllama's backend once and routes its log: errors to stderr, the rest dropped
// unless verbose.
void InitLlamaBackend(bool verbose = false);

}  // namespace chunkllm
