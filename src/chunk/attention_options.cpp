#include "chunk/attention_options.h"

#include "core/error.h"

namespace chunkllm {

bool IsChunkMethod(AttentionMethod m) {
  return m == AttentionMethod::kChunkLlm || m == AttentionMethod::kChunkFixed || m == AttentionMethod::kNoVote ||
         m == AttentionMethod::kNoIcac || m == AttentionMethod::kOracle;
}

bool IsWindowMethod(AttentionMethod m) {
  return m == AttentionMethod::kStreaming || m == AttentionMethod::kSepLlm || m == AttentionMethod::kFixLlm;
}

bool SparsePrefills(AttentionMethod m) { return IsChunkMethod(m) && m != AttentionMethod::kOracle; }

PrefillMode AttentionOptions::prefill_mode() const {
  if (prefill) return *prefill;
  return SparsePrefills(method) ? PrefillMode::kSparse : PrefillMode::kDense;
}

ChunkSelection AttentionOptions::selection_mode() const {
  // novote is the paper's ablation without the vote, whatever --selection says (so that one
  // eval can compare it with `--attn chunkllm --selection shared`).
  if (method == AttentionMethod::kNoVote) return ChunkSelection::kPerLayer;
  if (selection) return *selection;
  // --layer-topk adds to the shared set, so asking for it asks for the set (the paper's rules,
  // --layer-topk 0, included).
  return evict() || layer_topk >= 0 ? ChunkSelection::kShared : ChunkSelection::kPerLayer;
}

int AttentionOptions::layer_topk_or_default() const {
  if (selection_mode() == ChunkSelection::kPerLayer) return 0;
  return layer_topk >= 0 ? layer_topk : evict() ? 0 : kDefaultLayerTopk;
}

const std::vector<std::pair<std::string, AttentionMethod>>& AttentionMethodNames() {
  static const std::vector<std::pair<std::string, AttentionMethod>> names = {
      {"dense", AttentionMethod::kDense},           {"chunkllm", AttentionMethod::kChunkLlm},
      {"streaming", AttentionMethod::kStreaming},   {"sepllm", AttentionMethod::kSepLlm},
      {"fixllm", AttentionMethod::kFixLlm},         {"chunk-fixed", AttentionMethod::kChunkFixed},
      {"novote", AttentionMethod::kNoVote},         {"noicac", AttentionMethod::kNoIcac},
      {"oracle", AttentionMethod::kOracle}};
  return names;
}

const char* Name(AttentionMethod m) {
  for (const auto& [name, method] : AttentionMethodNames())
    if (method == m) return name.c_str();
  return "?";
}

const char* Name(SelectQuery q) { return q == SelectQuery::kLast ? "last" : "recent"; }
const char* Name(FirstSelection f) { return f == FirstSelection::kDenseStep ? "dense-step" : "prompt"; }
const char* Name(KvMode k) { return k == KvMode::kResident ? "resident" : "evict"; }
const char* Name(PrefillMode p) { return p == PrefillMode::kDense ? "dense" : "sparse"; }
const char* Name(ChunkSelection c) { return c == ChunkSelection::kShared ? "shared" : "per-layer"; }

AttentionMethod ParseAttentionMethod(const std::string& s) {
  std::string known;
  for (const auto& [name, method] : AttentionMethodNames()) {
    if (name == s) return method;
    known += (known.empty() ? "" : ", ") + name;
  }
  Fail("unknown --attn method '", s, "' (available: ", known, ")");
}

std::vector<AttentionMethod> ParseAttentionMethods(const std::vector<std::string>& names) {
  std::vector<AttentionMethod> out;
  for (const std::string& n : names) out.push_back(ParseAttentionMethod(n));
  return out;
}

SelectQuery ParseSelectQuery(const std::string& s) {
  if (s == "last") return SelectQuery::kLast;
  if (s == "recent") return SelectQuery::kRecent;
  Fail("--select-query must be last or recent, got '", s, "'");
}

FirstSelection ParseFirstSelection(const std::string& s) {
  if (s == "dense-step") return FirstSelection::kDenseStep;
  if (s == "prompt") return FirstSelection::kPrompt;
  Fail("--first-selection must be prompt or dense-step, got '", s, "'");
}

KvMode ParseKvMode(const std::string& s) {
  if (s == "resident") return KvMode::kResident;
  if (s == "evict") return KvMode::kEvict;
  Fail("--kv must be resident or evict, got '", s, "'");
}

PrefillMode ParsePrefillMode(const std::string& s) {
  if (s == "dense") return PrefillMode::kDense;
  if (s == "sparse") return PrefillMode::kSparse;
  Fail("--prefill must be dense or sparse, got '", s, "'");
}

ChunkSelection ParseChunkSelection(const std::string& s) {
  if (s == "shared") return ChunkSelection::kShared;
  if (s == "per-layer") return ChunkSelection::kPerLayer;
  Fail("--selection must be per-layer or shared, got '", s, "'");
}

void CheckAttentionOptions(const AttentionOptions& o) {
  if (o.topk <= 0) Fail("--topk must be positive, got ", o.topk);
  if (o.budget_tokens < 0) Fail("--budget-tokens must be >= 0 (0: select --topk chunks), got ", o.budget_tokens);
  if (o.local < 0) Fail("--local must be >= 0, got ", o.local);
  if (o.local_tokens < 0) Fail("--local-tokens must be >= 0 (0: --local chunks only), got ", o.local_tokens);
  if (o.sink < 0) Fail("--sink must be >= 0, got ", o.sink);
  if (o.window <= 0) Fail("--window must be positive, got ", o.window);
  if (o.chunk_len <= 0) Fail("--chunk-len must be positive, got ", o.chunk_len);
  if (o.stride <= 0) Fail("--stride must be positive, got ", o.stride);
  if (o.prefill_budget < 0) Fail("--prefill-budget must be >= 0 (0: sink and window only), got ", o.prefill_budget);
  if (o.prefill_window < 0) Fail("--prefill-window must be >= 0, got ", o.prefill_window);
  if (o.prefill_query_groups < 0) {
    Fail("--prefill-query-groups must be >= 0 (1: the batch's mean query, 0: every token), got ", o.prefill_query_groups);
  }
  if (o.prefill_dense_tail < 0) Fail("--prefill-dense-tail must be >= 0, got ", o.prefill_dense_tail);
  if (o.prefill_mode() == PrefillMode::kSparse && !IsChunkMethod(o.method)) {
    Fail("--prefill sparse needs a ChunkLLM method (chunkllm, chunk-fixed, novote, noicac); --attn ",
         Name(o.method), " prefills densely");
  }
  if (o.prefill_mode() == PrefillMode::kSparse && o.method == AttentionMethod::kOracle) {
    Fail("--prefill sparse selects with the adapters; --attn oracle ranks by the full attention it would skip");
  }
  if (o.layer_topk < -1) {
    Fail("--layer-topk must be >= 0 (or -1: ", AttentionOptions::kDefaultLayerTopk, ", or 0 with --kv evict), got ",
         o.layer_topk);
  }
  if (o.selection == ChunkSelection::kPerLayer && o.layer_topk > 0) {
    Fail("--layer-topk adds each layer's own chunks to the shared set; with --selection per-layer every layer reads "
         "its own --topk already");
  }
  if (o.evict() && o.selection == ChunkSelection::kPerLayer) {
    Fail("--kv evict keeps the one shared set of chunks resident; it cannot run with --selection per-layer");
  }
  if (!o.evict()) return;
  switch (o.method) {
    case AttentionMethod::kDense:
      Fail("--kv evict needs a sparse --attn method; dense attention reads every position");
    case AttentionMethod::kNoVote:
      Fail("--kv evict needs the layer vote (one shared set); --attn novote cannot evict");
    case AttentionMethod::kOracle:
      Fail("--attn oracle scores every cached position; it cannot run with --kv evict");
    default:
      break;
  }
  if (IsChunkMethod(o.method) && o.layer_topk_or_default() > 0) {
    Fail("--kv evict keeps one shared set of chunks; it cannot run with --layer-topk (each layer its own chunks)");
  }
}

}  // namespace chunkllm
