#include "chunk/policy_spec.h"

#include "chunk/adapter_file.h"
#include "chunk/chunkllm_policy.h"
#include "chunk/window_policy.h"
#include "core/error.h"
#include "model/model.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

// What the policies cannot run with these adapters.
void CheckAdaptersForOptions(const AdapterHyperParams& hp, const AttentionOptions& o) {
  const bool icac_adapter_queries = o.method != AttentionMethod::kOracle && o.method != AttentionMethod::kNoIcac;
  if (o.select_query == SelectQuery::kRecent && icac_adapter_queries && hp.query_target == "served") {
    Fail("--select-query recent: these adapters were trained for the served query target (one query per "
         "selection); use --select-query last");
  }
  if (hp.boundary_delay < 0 || hp.boundary_delay > kMaxBoundaryDelay) {
    Fail("adapters with a boundary delay of ", hp.boundary_delay, " are not supported");
  }
}

}  // namespace

std::shared_ptr<const AdapterRuntime> LoadAdaptersFor(const Model& model, const std::string& path) {
  return std::make_shared<const AdapterRuntime>(LoadMatchingAdapters(path, model));
}

PolicySpec::PolicySpec(const Model& model, const AttentionOptions& o, std::shared_ptr<const AdapterRuntime> adapters)
    : model_(&model), options_(o),
      name_(std::string(Name(o.method)) +
            (SparsePrefills(o.method) && o.prefill_mode() == PrefillMode::kDense ? "+dense-prefill" : "")) {
  CheckAttentionOptions(o);
  if (IsChunkMethod(o.method)) {
    if (!adapters && o.adapters.empty()) {
      Fail("--attn ", Name(o.method), " needs --adapters FILE (train them with `chunkllm train`)");
    }
    adapters_ = adapters ? std::move(adapters) : LoadAdaptersFor(model, o.adapters);
    CheckAdaptersForOptions(adapters_->hp(), o);
  } else if (o.method == AttentionMethod::kSepLlm) {
    separators_ = std::make_shared<const std::vector<uint8_t>>(SeparatorTokens(*Tokenizer::Load(model.path())));
  }
}

std::unique_ptr<AttentionPolicy> PolicySpec::NewPolicy() const {
  if (IsChunkMethod(options_.method)) return std::make_unique<ChunkLlmPolicy>(*model_, adapters_, options_);
  if (IsWindowMethod(options_.method)) return std::make_unique<WindowPolicy>(model_->config(), options_, separators_);
  return std::make_unique<DensePolicy>();
}

std::vector<PolicySpec> MakePolicySpecs(const Model& model, const AttentionOptions& options,
                                        const std::vector<AttentionMethod>& methods,
                                        const std::vector<PrefillMode>& prefills) {
  if (prefills.empty()) Fail("--prefill needs at least one mode");
  for (size_t i = 0; i < prefills.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (prefills[i] == prefills[j]) Fail("--prefill names ", Name(prefills[i]), " twice");
  std::shared_ptr<const AdapterRuntime> adapters;
  std::vector<PolicySpec> specs;
  for (AttentionMethod m : methods) {
    const bool sparse_capable = SparsePrefills(m);
    for (size_t i = 0; i < prefills.size(); ++i) {
      AttentionOptions o = options;
      o.method = m;
      o.prefill = sparse_capable ? prefills[i] : PrefillMode::kDense;
      if (!sparse_capable && i > 0) break;  // once, densely
      specs.emplace_back(model, o, IsChunkMethod(m) ? adapters : nullptr);
      if (!adapters) adapters = specs.back().adapters();  // the first ChunkLLM method loaded them
    }
  }
  return specs;
}

}  // namespace chunkllm
