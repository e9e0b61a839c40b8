// The small random model, adapters and prompts that the policy tests share, and helpers
// to run a session over them (tests/chunk/test_policies.cpp, test_policy_selection.cpp).
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "chunk/adapter_file.h"
#include "chunk/chunkllm_policy.h"
#include "model/model.h"
#include "model/session.h"
#include "test_util.h"
#include "text/llama_log.h"

namespace chunkllm::test {

struct Fixture {
  std::unique_ptr<Model> model;
  std::shared_ptr<const AdapterRuntime> adapters;
  std::vector<int32_t> prompt, continuation;
};

inline Fixture MakeFixture() {
  InitLlamaBackend();
  RandomModelSpec spec;
  spec.vocab_path = test::VocabPath("llama-spm");
  spec.n_embd = 128, spec.n_layer = 3, spec.n_head = 4, spec.n_head_kv = 2;
  spec.n_ctx_train = 2048;
  spec.init_std = 0.1f;
  Fixture f;
  f.model = Model::Load(test::FixtureModel("policy-llama", spec));
  BaseModelInfo base;
  base.arch = "llama", base.n_layer = 3, base.n_embd = 128, base.n_head = 4, base.n_head_kv = 2;
  base.head_dim = 32, base.n_vocab = f.model->config().n_vocab;
  AdapterHyperParams hp;
  hp.d_adapter = 32, hp.rank = 16, hp.max_chunk = 24;
  f.adapters = std::make_shared<const AdapterRuntime>(RandomAdapters(base, hp, 11));
  std::mt19937 rng(5);
  for (int i = 0; i < 400; ++i) f.prompt.push_back(int32_t(2 + rng() % 31000));
  for (int i = 0; i < 60; ++i) f.continuation.push_back(int32_t(2 + rng() % 31000));
  return f;
}

inline SessionParams Params(int threads = 2, int ubatch = 128) {
  SessionParams p;
  p.n_ctx = 1024;
  p.n_threads = threads;
  p.n_ubatch = ubatch;
  return p;
}

// Logits after the prompt and after each continuation token.
inline std::vector<std::vector<float>> RunSession(const Fixture& f, AttentionPolicy* policy, const SessionParams& p,
                                    const std::function<void(int)>& after_step = {}) {
  Session s(*f.model, p, policy);
  s.Prefill(f.prompt);
  std::vector<std::vector<float>> out = {s.last_logits()};
  for (size_t i = 0; i < f.continuation.size(); ++i) {
    out.push_back(s.Decode(f.continuation[i]));
    if (after_step) after_step(int(i));
  }
  return out;
}

// The fixture's adapters with chunks that end only at max_chunk (24) tokens: the random Chunk
// Adapter ends a chunk at nearly every token, and a bias of -100 silences it, so prompts can
// end inside open chunks and a few appended tokens close none.
inline AdapterSet AdaptersWithMaxLengthChunks(const Fixture& f) {
  AdapterSet a = f.adapters->adapters();
  a.chunk.b1[0] = -100.0f;
  return a;
}

inline AttentionOptions Options(const std::string& method, int topk) {
  AttentionOptions o;
  o.method = ParseAttentionMethod(method), o.topk = topk, o.local = 2, o.sink = 4;
  o.first_selection = FirstSelection::kPrompt, o.layer_topk = 0, o.local_tokens = 0;  // the paper's rules; tests of ours set them
  return o;
}

// The fixture's adapters with every content score 0 (Q-Adapter output zero) and a 16-bucket
// distance bias of `value` at `bucket` (distance bucket + 1 chunks back) in every layer, 0 elsewhere.
inline AdapterSet BiasOnlyAdapters(const Fixture& f, int bucket, float value) {
  AdapterSet a = f.adapters->adapters();
  a.hp.distance_buckets = 16;
  for (LayerAdapters& l : a.layers) {
    std::fill(l.q_w2.begin(), l.q_w2.end(), 0.0f);
    l.distance_bias.assign(16, 0.0f);
    l.distance_bias[size_t(bucket)] = value;
  }
  return a;
}

}  // namespace chunkllm::test
