#include "chunk/policy_factory.h"

#include "core/error.h"

namespace chunkllm {

const std::vector<std::string>& AttentionMethodNames() {
  static const std::vector<std::string> names = {"dense"};
  return names;
}

std::unique_ptr<AttentionPolicy> MakeAttentionPolicy(const AttentionOptions& o, const Model&) {
  if (o.topk <= 0) Fail("--topk must be positive, got ", o.topk);
  if (o.local < 0) Fail("--local must be >= 0, got ", o.local);
  if (o.sink < 0) Fail("--sink must be >= 0, got ", o.sink);
  if (o.window <= 0) Fail("--window must be positive, got ", o.window);
  if (o.kv != "resident" && o.kv != "evict") Fail("--kv must be resident or evict, got '", o.kv, "'");
  if (o.attn == "dense") return std::make_unique<DensePolicy>();
  std::string known;
  for (const auto& n : AttentionMethodNames()) known += (known.empty() ? "" : ", ") + n;
  Fail("unknown --attn method '", o.attn, "' (available: ", known, ")");
}

}  // namespace chunkllm
