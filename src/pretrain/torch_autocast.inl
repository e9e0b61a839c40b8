// Inline part of torch_llama.h: the autocast scope, and the dtypes of hand-written autograd functions.
#pragma once
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

// The dtypes of a hand-written autograd function's arithmetic on input x: `mm` for its matmuls
// (what autocast would choose: its dtype when on, else x's; f64 stays f64 for the gradient
// checks) and `wide` for its softmax and reductions (f32, f64 for f64 inputs). The function
// then switches autocast off inside, since its own casts do autocast's work.
struct ComputeDtypes {
  at::ScalarType mm, wide;
};
inline ComputeDtypes AutocastComputeDtypes(const at::Tensor& x) {
  if (x.scalar_type() == at::kDouble) return {at::kDouble, at::kDouble};
  return {at::autocast::is_cpu_enabled() ? at::autocast::get_autocast_cpu_dtype() : x.scalar_type(), at::kFloat};
}

}  // namespace chunkllm
