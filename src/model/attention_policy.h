// AttentionPolicy: the one hook through which ChunkLLM and the baselines steer attention.
//
// model/ owns this interface and never includes chunk/. A session calls the policy before
// each micro-batch. The dense policy reads every cached position under the causal mask;
// the sparse policies of chunk/ extend this interface with the positions each layer reads.
#pragma once

namespace chunkllm {

class AttentionPolicy {
 public:
  virtual ~AttentionPolicy() = default;
  virtual const char* name() const = 0;

  // Called before a micro-batch of n_tokens tokens at positions [pos0, pos0 + n_tokens).
  virtual void BeginBatch(int pos0, int n_tokens) {}
};

// Dense (vanilla) attention: every cached position.
class DensePolicy final : public AttentionPolicy {
 public:
  const char* name() const override { return "dense"; }
};

}  // namespace chunkllm
