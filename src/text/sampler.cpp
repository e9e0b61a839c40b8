#include "text/sampler.h"

#include <cmath>

#include "core/error.h"
#include "llama.h"

namespace chunkllm {

Sampler::Sampler(const SamplerParams& p) {
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) Fail("--top-p must be in (0, 1], got ", p.top_p);
  if (!std::isfinite(p.temperature)) Fail("--temp must be a finite number (0 or less: greedy), got ", p.temperature);
  chain_ = llama_sampler_chain_init(llama_sampler_chain_default_params());
  if (p.temperature <= 0.0f) {
    llama_sampler_chain_add(chain_, llama_sampler_init_greedy());
    return;
  }
  if (p.top_k > 0) llama_sampler_chain_add(chain_, llama_sampler_init_top_k(p.top_k));
  if (p.top_p < 1.0f) llama_sampler_chain_add(chain_, llama_sampler_init_top_p(p.top_p, 1));
  llama_sampler_chain_add(chain_, llama_sampler_init_temp(p.temperature));
  llama_sampler_chain_add(chain_, llama_sampler_init_dist(p.seed));
}

Sampler::~Sampler() {
  if (chain_) llama_sampler_free(chain_);
}

int32_t Sampler::Sample(const std::vector<float>& logits) {
  const size_t V = logits.size();
  for (size_t i = 0; i < V; ++i) {
    if (std::isnan(logits[i])) Fail("the model's logit of token ", i, " is NaN: no token can be sampled");
  }
  scratch_.resize(V * sizeof(llama_token_data));
  auto* data = reinterpret_cast<llama_token_data*>(scratch_.data());
  for (size_t i = 0; i < V; ++i) data[i] = {int32_t(i), logits[i], 0.0f};
  llama_token_data_array cur = {data, V, -1, false};
  llama_sampler_apply(chain_, &cur);
  if (cur.selected < 0 || size_t(cur.selected) >= cur.size) Fail("internal: the sampler selected no token");
  const int32_t token = cur.data[cur.selected].id;
  llama_sampler_accept(chain_, token);
  return token;
}

int32_t ArgMax(const std::vector<float>& logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[size_t(best)]) best = int32_t(i);
  }
  return best;
}

}  // namespace chunkllm
