#include "text/llama_log.h"

#include <cstdio>
#include <mutex>

#include "llama.h"

namespace chunkllm {
namespace {

bool g_verbose = false;

void LogCallback(ggml_log_level level, const char* text, void*) {
  if (g_verbose || level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

}  // namespace

void InitLlamaBackend(bool verbose) {
  static std::once_flag once;
  g_verbose = verbose;
  std::call_once(once, [] { llama_backend_init(); });
  llama_log_set(LogCallback, nullptr);
}

}  // namespace chunkllm
