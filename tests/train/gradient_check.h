// Finite-difference gradient checks shared by the training tests: autograd's gradient of a
// scalar loss against central differences (f(x + h) - f(x - h)) / 2h, element by element.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace chunkllm::test {

// Central differences err by h^2 |f'''| / 6 (truncation) + eps |f| / h (rounding); in double
// with h ~ 1e-5..1e-6 both are ~1e-10 for O(1) values, far below what a wrong backward moves.
struct FiniteDifference {
  double h = 1e-6;
  double abs_tol = 1e-7;
  double rel_tol = 1e-6;
};

// Expects grad[i] (a gradient computed by the caller) to match the central difference of loss()
// with respect to values[i], for every i in `elements` (flat indices). values (double) is
// perturbed in place without autograd and restored; pass a parameter's .data() for a leaf
// that requires grad. `what` names the tensor in failure messages.
void ExpectGradientMatches(torch::Tensor values, const torch::Tensor& grad, const std::function<torch::Tensor()>& loss,
                           const std::vector<int64_t>& elements, const FiniteDifference& fd, const std::string& what);

// Flat indices 0, stride, 2 stride, ... below n.
std::vector<int64_t> EveryNth(int64_t n, int64_t stride = 1);

}  // namespace chunkllm::test
