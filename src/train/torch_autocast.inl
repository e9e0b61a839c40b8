// Inline part of torch_llama.h: the autocast scope.
#include <ATen/autocast_mode.h>

namespace chunkllm {

template <typename F>
auto WithBf16Autocast(bool enabled, F&& f) -> decltype(f()) {
  if (!enabled) return f();
  struct Scope {
    Scope() {
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::increment_nesting();
    }
    ~Scope() {
      if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
      at::autocast::set_cpu_enabled(false);
    }
  } scope;
  return f();
}

}  // namespace chunkllm
