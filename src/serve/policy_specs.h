// PolicySpecs: the server's attention methods, one PolicySpec per method, all with the knobs of
// the command line. The default method's spec is made at start-up (a bad flag or adapter file
// stops the server before it serves); another method's on the first request that asks for it
// ("chunkllm": {"attn": ...}), then kept. The ChunkLLM methods share one load of the adapters.
// Thread-safe; a spec, once made, lives as long as this object and never moves.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "chunk/policy_spec.h"

namespace chunkllm::serve {

class PolicySpecs {
 public:
  // Makes the default method's spec (options.method). Throws Error naming the flag at fault.
  PolicySpecs(const Model& model, const AttentionOptions& options);

  // The spec of `method` (with the command line's knobs). Throws Error when that method cannot
  // run with them (e.g. a ChunkLLM method without --adapters); the error is not cached.
  const PolicySpec& Get(AttentionMethod method);
  const PolicySpec& default_spec() const { return *default_; }

 private:
  const Model& model_;
  AttentionOptions options_;
  std::mutex mu_;
  std::map<AttentionMethod, std::unique_ptr<PolicySpec>> specs_;
  std::shared_ptr<const AdapterRuntime> adapters_;  // loaded by the first ChunkLLM method
  const PolicySpec* default_ = nullptr;
};

}  // namespace chunkllm::serve
