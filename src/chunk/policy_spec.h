// PolicySpec: an attention method with its knobs, checked once, and what every sequence's policy
// of it shares: for the ChunkLLM methods the adapters, loaded once and checked against the model
// (arch, shape, weights' fingerprint); for sepllm the tokenizer's separator tokens. It hands out
// a fresh policy per sequence (a policy holds one sequence's state: its chunk index, gathered
// cache and statistics). run and chunks hold one spec; bench, eval and fidelity one per method;
// a server holds one and asks it for a policy per slot. NewPolicy is const and the shared parts
// immutable, so specs may be shared across threads. The model must outlive the spec and every
// policy it made.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chunk/adapter_runtime.h"
#include "chunk/attention_options.h"
#include "model/attention_policy.h"

namespace chunkllm {

class Model;

class PolicySpec {
 public:
  // Checks the options (CheckAttentionOptions) and, for a ChunkLLM method, the adapters against
  // them and the model: `adapters` when given (already loaded, e.g. shared by several specs, or
  // made in memory by a test), else loaded from options.adapters. Throws Error naming the flag.
  PolicySpec(const Model& model, const AttentionOptions& options,
             std::shared_ptr<const AdapterRuntime> adapters = nullptr);

  // A new policy for one sequence (dense attention: a DensePolicy).
  std::unique_ptr<AttentionPolicy> NewPolicy() const;

  AttentionMethod method() const { return options_.method; }
  // The method's name, with "+dense-prefill" where a method that prefills sparsely by default
  // was asked to prefill densely: what reports call it.
  const char* name() const { return name_.c_str(); }
  const AttentionOptions& options() const { return options_; }
  // The adapters of a ChunkLLM method (null for the others).
  const std::shared_ptr<const AdapterRuntime>& adapters() const { return adapters_; }

 private:
  const Model* model_;
  AttentionOptions options_;
  std::string name_;
  std::shared_ptr<const AdapterRuntime> adapters_;
  std::shared_ptr<const std::vector<uint8_t>> separators_;
};

// Loads the adapter file and refuses it unless it was trained for this model.
std::shared_ptr<const AdapterRuntime> LoadAdaptersFor(const Model& model, const std::string& path);

// One spec per method and prefill mode (--prefill a,b in bench and eval), each with `options`'
// knobs: the methods that can prefill sparsely (SparsePrefills) once per mode, the others once,
// densely. The ChunkLLM methods share one load of the adapters. Every method is checked before
// any is used.
std::vector<PolicySpec> MakePolicySpecs(const Model& model, const AttentionOptions& options,
                                        const std::vector<AttentionMethod>& methods,
                                        const std::vector<PrefillMode>& prefills);

}  // namespace chunkllm
