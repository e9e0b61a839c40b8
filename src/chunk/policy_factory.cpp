#include "chunk/policy_factory.h"

#include "chunk/adapter_file.h"
#include "chunk/chunkllm_policy.h"
#include "chunk/window_policy.h"
#include "core/error.h"
#include "model/gguf_file.h"
#include "model/model.h"
#include "text/tokenizer.h"

namespace chunkllm {

const std::vector<std::string>& AttentionMethodNames() {
  static const std::vector<std::string> names = {"dense",  "chunkllm",    "streaming", "sepllm", "fixllm",
                                                 "chunk-fixed", "novote", "noicac",    "oracle"};
  return names;
}

std::unique_ptr<AttentionPolicy> MakeAttentionPolicy(const AttentionOptions& o, const Model& model) {
  if (o.topk <= 0) Fail("--topk must be positive, got ", o.topk);
  if (o.budget_tokens < 0) Fail("--budget-tokens must be >= 0 (0: select --topk chunks), got ", o.budget_tokens);
  if (o.local < 0) Fail("--local must be >= 0, got ", o.local);
  if (o.local_tokens < 0) Fail("--local-tokens must be >= 0 (0: --local chunks only), got ", o.local_tokens);
  if (o.sink < 0) Fail("--sink must be >= 0, got ", o.sink);
  if (o.window <= 0) Fail("--window must be positive, got ", o.window);
  if (o.chunk_len <= 0) Fail("--chunk-len must be positive, got ", o.chunk_len);
  if (o.stride <= 0) Fail("--stride must be positive, got ", o.stride);
  if (o.layer_topk < -1)
    Fail("--layer-topk must be >= 0 (or -1: ", selection_defaults::kLayerTopk, ", or 0 with --kv evict), got ", o.layer_topk);
  if (o.kv != "resident" && o.kv != "evict") Fail("--kv must be resident or evict, got '", o.kv, "'");
  const bool evict = o.kv == "evict";
  if (o.attn == "dense") {
    if (evict) Fail("--kv evict needs a sparse --attn method; dense attention reads every position");
    return std::make_unique<DensePolicy>();
  }
  if (o.attn == "streaming" || o.attn == "sepllm" || o.attn == "fixllm") {
    WindowPolicyOptions w;
    w.method = o.attn, w.sink = o.sink, w.window = o.window, w.stride = o.stride, w.evict = evict;
    if (o.attn == "sepllm") w.is_separator = SeparatorTokens(*Tokenizer::Load(model.path()));
    return std::make_unique<WindowPolicy>(model.config(), std::move(w));
  }
  if (o.attn == "chunkllm" || o.attn == "chunk-fixed" || o.attn == "novote" || o.attn == "noicac" ||
      o.attn == "oracle") {
    if (o.adapters.empty()) Fail("--attn ", o.attn, " needs --adapters FILE (train them with `chunkllm train`)");
    AdapterSet a = LoadAdapters(o.adapters);
    CheckAdaptersMatchModel(a, BaseModelInfoOf(model, GgufFile::Open(model.path())), o.adapters, model.path());
    ChunkPolicyOptions c;
    c.method = o.attn, c.topk = o.topk, c.local = o.local, c.local_tokens = o.local_tokens, c.sink = o.sink;
    c.chunk_len = o.chunk_len;
    c.budget_tokens = o.budget_tokens, c.select_query = o.select_query;
    c.first_selection = o.first_selection, c.layer_topk = ResolvedLayerTopk(o);
    c.evict = evict;
    return std::make_unique<ChunkLlmPolicy>(model, std::make_shared<const AdapterRuntime>(std::move(a)), c);
  }
  std::string known;
  for (const auto& n : AttentionMethodNames()) known += (known.empty() ? "" : ", ") + n;
  Fail("unknown --attn method '", o.attn, "' (available: ", known, ")");
}

}  // namespace chunkllm
