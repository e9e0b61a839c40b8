#include "serve/policy_specs.h"

namespace chunkllm::serve {

PolicySpecs::PolicySpecs(const Model& model, const AttentionOptions& options) : model_(model), options_(options) {
  default_ = &Get(options.method);
}

const PolicySpec& PolicySpecs::Get(AttentionMethod method) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = specs_.find(method);
  if (it != specs_.end()) return *it->second;
  AttentionOptions o = options_;
  o.method = method;
  auto spec = std::make_unique<PolicySpec>(model_, o, IsChunkMethod(method) ? adapters_ : nullptr);
  if (!adapters_ && spec->adapters()) adapters_ = spec->adapters();
  return *specs_.emplace(method, std::move(spec)).first->second;
}

}  // namespace chunkllm::serve
