// The token-level baselines (docs/method.md, "Baselines"), as one policy with knobs:
//   streaming  StreamingLLM: the `sink` first tokens + the last `window` tokens
//   sepllm     SepLLM: + every separator token (. , ; : ? ! newline) before the window
//   fixllm     FixLLM: + every `stride`-th token before the window
// The window is refreshed every window/8 decode steps (rebuilding the gathered rows each step
// would cost more than it saves), so between refreshes it grows to at most 9/8 of its size;
// the measured attended fraction reports what was actually read.
#pragma once

#include <memory>
#include <vector>

#include "chunk/attention_options.h"
#include "chunk/gathered_policy.h"

namespace chunkllm {

class WindowPolicy final : public GatheredPolicy {
 public:
  // options.method is streaming, sepllm or fixllm (IsWindowMethod), its knobs checked
  // (CheckAttentionOptions); sepllm needs is_separator (per token id: SeparatorTokens).
  WindowPolicy(const ModelConfig& config, const AttentionOptions& options,
               std::shared_ptr<const std::vector<uint8_t>> is_separator = nullptr);
  const char* name() const override { return Name(options_.method); }

 protected:
  void OnBeginBatch(int pos0, int n_tokens, const int32_t* tokens) override;
  void OnEndBatch(const SequenceGraph& graph, int pos0, int n_tokens) override;
  void OnTruncate(int n) override;

 private:
  void Refresh();
  AttentionOptions options_;
  std::shared_ptr<const std::vector<uint8_t>> is_separator_;
  std::vector<uint8_t> keep_;  // per position: kept before the window (separator / stride)
  int refresh_every_;
  int since_refresh_ = 0;
  bool refresh_before_decode_ = false;
};

// SepLLM's separators: tokens whose text holds one of . , ; : ? ! or a newline.
class Tokenizer;
std::vector<uint8_t> SeparatorTokens(const Tokenizer& tokenizer);

}  // namespace chunkllm
