// MakeAttentionPolicy: the one place that turns `--attn NAME` and its knobs into a policy, so
// run, bench and eval offer the same methods (docs/method.md, "Baselines").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chunk/selection_defaults.h"
#include "model/attention_policy.h"

namespace chunkllm {

class Model;

struct AttentionOptions {
  std::string attn = "dense";  // dense|chunkllm|streaming|sepllm|fixllm|chunk-fixed|novote|noicac|oracle
  std::string adapters;        // --adapters FILE (chunkllm, chunk-fixed, novote, noicac)
  int topk = selection_defaults::kTopk;  // --topk: chunks selected per boundary
  int budget_tokens = 0;       // --budget-tokens: > 0 selects chunks up to this many tokens instead
  std::string select_query = selection_defaults::kSelectQuery;        // --select-query last|recent (ChunkLLM methods)
  std::string first_selection = selection_defaults::kFirstSelection;  // --first-selection dense-step|prompt
  int layer_topk = -1;         // --layer-topk: each layer's own top chunks beside the voted set;
                               // -1: kLayerTopk, or 0 with --kv evict (which keeps one shared set)
  int local = selection_defaults::kLocal;               // --local: most recent chunks always kept
  int local_tokens = selection_defaults::kLocalTokens;  // --local-tokens: ... and more until they hold this many tokens
  int sink = selection_defaults::kSink;                 // --sink: first tokens always kept
  int window = selection_defaults::kWindow;             // --window: recent tokens (streaming, sepllm, fixllm)
  std::string kv = "resident"; // --kv resident|evict
  int chunk_len = selection_defaults::kChunkLen;  // --chunk-len: tokens per chunk (chunk-fixed)
  int stride = selection_defaults::kStride;       // --stride: every n-th token kept (fixllm)
};

// --layer-topk as the policies use it: -1 resolved to kLayerTopk, or to 0 with --kv evict.
inline int ResolvedLayerTopk(const AttentionOptions& o) {
  return o.layer_topk >= 0 ? o.layer_topk : o.kv == "evict" ? 0 : selection_defaults::kLayerTopk;
}

// Every accepted --attn value, in display order.
const std::vector<std::string>& AttentionMethodNames();

// Throws Error naming the flag at fault (unknown method, missing --adapters, bad knob).
std::unique_ptr<AttentionPolicy> MakeAttentionPolicy(const AttentionOptions& options, const Model& model);

}  // namespace chunkllm
