// Sparse attention policies in the engine: ChunkLLM with all chunks selected is dense attention
// bit for bit; with a small k the gathered attention equals a masked dense computation over the
// same positions; the chunk index partitions the sequence; sinks, local chunks and the open
// chunk are always read; batched prefill builds the same index as token-by-token decoding;
// threads do not change results; eviction releases the full cache and never reads it again;
// a delayed Chunk Adapter closes the chunks that training's classifier decides.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>

#include "chunk/adapter_file.h"
#include "chunk/chunkllm_policy.h"
#include "chunk/policy_factory.h"
#include "chunk/selection.h"
#include "chunk/window_policy.h"
#include "train/adapter_evaluation.h"
#include "train/adapter_model.h"
#include "model/model.h"
#include "model/session.h"
#include "test_util.h"
#include "text/llama_log.h"
#include "text/tokenizer.h"
#include "core/error.h"

namespace chunkllm {
namespace {

struct Fixture {
  std::unique_ptr<Model> model;
  std::shared_ptr<const AdapterRuntime> adapters;
  std::vector<int32_t> prompt, continuation;
};

Fixture MakeFixture() {
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

SessionParams Params(int threads = 2, int ubatch = 128) {
  SessionParams p;
  p.n_ctx = 1024;
  p.n_threads = threads;
  p.n_ubatch = ubatch;
  return p;
}

// Logits after the prompt and after each continuation token.
std::vector<std::vector<float>> RunSession(const Fixture& f, AttentionPolicy* policy, const SessionParams& p,
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

ChunkPolicyOptions Options(const std::string& method, int topk) {
  ChunkPolicyOptions o;
  o.method = method, o.topk = topk, o.local = 2, o.sink = 4;
  return o;
}

TEST(ChunkPolicy, SelectingEveryChunkReproducesDenseLogitsExactly) {
  const Fixture f = MakeFixture();
  const auto dense = RunSession(f, nullptr, Params());
  for (const char* method : {"chunkllm", "noicac", "novote", "chunk-fixed", "oracle"}) {
    ChunkLlmPolicy policy(*f.model, f.adapters, Options(method, 10000));
    const auto sparse = RunSession(f, &policy, Params());
    ASSERT_EQ(sparse.size(), dense.size());
    EXPECT_GT(policy.stats().selections, 0) << method;
    ASSERT_NE(policy.gathered_cache(), nullptr) << method << ": decode never used gathered attention";
    for (size_t i = 0; i < dense.size(); ++i) {
      ASSERT_EQ(0, std::memcmp(dense[i].data(), sparse[i].data(), dense[i].size() * sizeof(float)))
          << method << ": logits differ at step " << i;
    }
  }
}

// The reference: attention over the session's own full cache, masked to the positions that
// the policy under test read at the same step (a naive masked dense computation).
class MaskedFullCache final : public AttentionPolicy {
 public:
  explicit MaskedFullCache(const GatheredPolicy&) {}
  const char* name() const override { return "masked-full"; }
  void Attach(KvCache& cache) override { full_ = &cache; }
  void BeginBatch(int pos0, int, const int32_t*) override { pos0_ = pos0; }
  const KvCache* gathered_cache() const override { return active ? full_ : nullptr; }
  int gathered_rows(int) const override { return pos0_; }  // the token's own row
  bool GatheredMask(int layer, int n_kv, ggml_fp16_t* mask) const override {
    std::fill(mask, mask + n_kv, ggml_fp32_to_fp16(-INFINITY));
    for (int p : positions[size_t(layer)]) mask[p] = ggml_fp32_to_fp16(0.0f);
    mask[pos0_] = ggml_fp32_to_fp16(0.0f);
    return true;
  }
  bool active = false;
  std::vector<std::vector<int>> positions;  // per layer, set before each step

 private:
  KvCache* full_ = nullptr;
  int pos0_ = 0;
};

TEST(ChunkPolicy, GatheredAttentionEqualsMaskedDenseOverTheSamePositions) {
  const Fixture f = MakeFixture();
  const int L = f.model->config().n_layer;
  // One thread: from 512 KV rows on, ggml's flash attention splits a single query's rows
  // across threads, each with its own f16 accumulator, and the masked layout (the whole cache)
  // reaches 512 rows where the compact one does not, so the two would sum in different groups.
  // With one thread both run one accumulator over the same rows in the same ascending order,
  // skipping masked rows: they must agree bit for bit. Threads have their own test
  // (ResultsAreIdenticalAcrossThreadCounts).
  const SessionParams p = Params(/*threads=*/1);
  for (const char* method : {"chunkllm", "novote"}) {
    ChunkLlmPolicy policy(*f.model, f.adapters, Options(method, 2));
    Session sparse(*f.model, p, &policy);
    MaskedFullCache ref(policy);
    Session masked(*f.model, p, &ref);
    Session dense(*f.model, p);
    sparse.Prefill(f.prompt);
    masked.Prefill(f.prompt);
    dense.Prefill(f.prompt);
    double sum_to_dense = 0, max_frac = 0;
    int steps = 0;
    for (int32_t tok : f.continuation) {
      const std::vector<float> a = sparse.Decode(tok);
      ref.active = !policy.last_read(0).empty();
      ref.positions.assign(size_t(L), {});
      for (int l = 0; l < L; ++l) ref.positions[size_t(l)] = policy.last_read(l);
      const std::vector<float> b = masked.Decode(tok);
      const std::vector<float> d = dense.Decode(tok);
      if (!ref.active) continue;
      ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)))
          << method << ": gathered and masked attention differ at decode step " << steps;
      float to_dense = 0;
      for (size_t i = 0; i < a.size(); ++i) to_dense = std::max(to_dense, std::fabs(a[i] - d[i]));
      sum_to_dense += to_dense;
      ++steps;
      max_frac = std::max(max_frac, double(policy.last_read(0).size()) / sparse.n_past());
    }
    EXPECT_LT(max_frac, 0.5) << "the selection left nothing out; the test would prove nothing";
    ASSERT_GT(steps, 0) << method << ": decode never used gathered attention";
    // With one thread the masked and the dense session differ only by the rows left out, so
    // logits equal to dense would mean the mask (and this comparison) did nothing.
    EXPECT_GT(sum_to_dense, 0.0) << method;
    std::fprintf(stderr, "%s: %d gathered steps equal to masked bit for bit; mean max |gathered - dense| %.4f\n",
                 method, steps, sum_to_dense / steps);
  }
}

TEST(ChunkPolicy, ChunksPartitionTheSequenceAndKeptPositionsAreAlwaysRead) {
  const Fixture f = MakeFixture();
  const int max_chunk = f.adapters->adapters().hp.max_chunk;
  for (const char* method : {"chunkllm", "novote", "noicac", "chunk-fixed"}) {
    ChunkLlmPolicy policy(*f.model, f.adapters, Options(method, 2));
    int checked = 0;
    RunSession(f, &policy, Params(), [&](int) {
      const int C = policy.n_chunks();
      ASSERT_GT(C, 3);
      for (int c = 0; c < C; ++c) {
        ASSERT_LT(policy.chunk_begin(c), policy.chunk_end(c));
        ASSERT_LE(policy.chunk_end(c) - policy.chunk_begin(c), std::string(method) == "chunk-fixed" ? 24 : max_chunk);
      }
      if (policy.last_read(0).empty()) return;  // a dense step
      // What the next step reads: sink, the latest `local` chunks, the open chunk, in order.
      const int n_past = int(f.prompt.size()) + checked + 1;
      for (int l = 0; l < f.model->config().n_layer; ++l) {
        const std::vector<int>& pos = policy.positions(l);
        ASSERT_TRUE(std::is_sorted(pos.begin(), pos.end()));
        ASSERT_EQ(std::adjacent_find(pos.begin(), pos.end()), pos.end());
        auto has = [&](int p) { return std::binary_search(pos.begin(), pos.end(), p); };
        for (int j = 0; j < 4; ++j) ASSERT_TRUE(has(j)) << "sink " << j;
        for (int c = std::max(0, C - 2); c < C; ++c)
          for (int j = policy.chunk_begin(c); j < policy.chunk_end(c); ++j) ASSERT_TRUE(has(j)) << "local chunk " << c;
        for (int j = policy.chunk_end(C - 1); j < n_past; ++j) ASSERT_TRUE(has(j)) << "open chunk";
      }
      ++checked;
    });
    EXPECT_GT(checked, 30) << method;
  }
}

TEST(ChunkPolicy, BatchedPrefillBuildsTheSameChunkIndexAsTokenByToken) {
  const Fixture f = MakeFixture();
  // All chunks selected: token-by-token steps are dense-exact, so only batching differs.
  ChunkLlmPolicy batched(*f.model, f.adapters, Options("chunkllm", 10000));
  ChunkLlmPolicy single(*f.model, f.adapters, Options("chunkllm", 10000));
  Session a(*f.model, Params(2, 64), &batched);
  Session b(*f.model, Params(2, 64), &single);
  a.Prefill(f.prompt);
  for (int32_t t : f.prompt) b.Decode(t);
  ASSERT_EQ(batched.n_chunks(), single.n_chunks());
  for (int c = 0; c < batched.n_chunks(); ++c) ASSERT_EQ(batched.chunk_end(c), single.chunk_end(c)) << c;
  // Keys agree to rounding: the batched and the one-query flash-attention kernels group their
  // f16 (u = 2^-11) accumulations differently, a few u per layer of relative error.
  for (int l = 0; l < f.model->config().n_layer; ++l) {
    const auto& ka = batched.chunk_keys(l);
    const auto& kb = single.chunk_keys(l);
    ASSERT_EQ(ka.size(), kb.size());
    float scale = 0, diff = 0;
    for (size_t i = 0; i < ka.size(); ++i) scale = std::max(scale, std::fabs(ka[i])), diff = std::max(diff, std::fabs(ka[i] - kb[i]));
    EXPECT_LT(diff, 4.0f * float(l + 1) * std::ldexp(1.0f, -11) * scale) << "layer " << l;
  }
}

TEST(ChunkPolicy, ResultsAreIdenticalAcrossThreadCounts) {
  const Fixture f = MakeFixture();
  ChunkLlmPolicy p1(*f.model, f.adapters, Options("chunkllm", 2));
  ChunkLlmPolicy p2(*f.model, f.adapters, Options("chunkllm", 2));
  const auto a = RunSession(f, &p1, Params(1));
  const auto b = RunSession(f, &p2, Params(2));
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(0, std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float))) << "step " << i;
  }
  EXPECT_EQ(p1.stats().selections, p2.stats().selections);
}

TEST(ChunkPolicy, EvictReleasesTheFullCacheAndOnlyReadsWhatItKept) {
  const Fixture f = MakeFixture();
  ChunkPolicyOptions o = Options("chunkllm", 2);
  o.evict = true;
  ChunkLlmPolicy policy(*f.model, f.adapters, o);
  ChunkLlmPolicy resident(*f.model, f.adapters, Options("chunkllm", 2));
  Session s(*f.model, Params(), &policy);
  Session r(*f.model, Params(), &resident);
  s.Prefill(f.prompt);
  r.Prefill(f.prompt);
  std::vector<int> kept;
  std::vector<std::vector<float>> first_run;
  for (size_t i = 0; i < f.continuation.size(); ++i) {
    const std::vector<float> a = s.Decode(f.continuation[i]);
    const std::vector<float> b = r.Decode(f.continuation[i]);
    if (i < 3) first_run.push_back(a);
    // The first sparse step reads the same selection in both modes.
    if (i == 0) ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
    ASSERT_TRUE(s.kv_cache().released());
    // Every position read was kept by the previous step (or is the previous step's token).
    for (int p : policy.last_read(0)) {
      if (!kept.empty()) ASSERT_TRUE(std::binary_search(kept.begin(), kept.end(), p) || p == s.n_past() - 2) << p;
    }
    kept = policy.positions(0);
  }
  EXPECT_LT(policy.stats().resident_fraction(), 0.5);
  EXPECT_DOUBLE_EQ(resident.stats().resident_fraction(), 1.0);
  EXPECT_THROW(s.Truncate(10), Error);
  // Starting over needs nothing of the past: Clear allocates the full cache again and the
  // same tokens give the same logits bit for bit.
  s.Clear();
  ASSERT_FALSE(s.kv_cache().released());
  ASSERT_EQ(s.n_past(), 0);
  s.Prefill(f.prompt);
  for (size_t i = 0; i < first_run.size(); ++i) {
    const std::vector<float> a = s.Decode(f.continuation[i]);
    ASSERT_EQ(0, std::memcmp(a.data(), first_run[i].data(), a.size() * sizeof(float))) << "step " << i;
  }
  EXPECT_TRUE(s.kv_cache().released());
}

TEST(ChunkPolicy, SelectionFollowsTheLearnedDistanceBias) {
  const Fixture f = MakeFixture();
  // Adapters whose content scores are all 0 (Q-Adapter output zero) and whose distance bias
  // favours the chunk 5 back from the query's own chunk (bucket 4) in every layer.
  AdapterSet a = f.adapters->adapters();
  a.hp.distance_buckets = 16;
  for (LayerAdapters& l : a.layers) {
    std::fill(l.q_w2.begin(), l.q_w2.end(), 0.0f);
    l.distance_bias.assign(16, 0.0f);
    l.distance_bias[4] = 10.0f;
  }
  auto biased = std::make_shared<const AdapterRuntime>(std::move(a));
  ASSERT_EQ(biased->DistanceBias(0, 5), 10.0f);
  ASSERT_EQ(biased->DistanceBias(0, 6), 0.0f);
  ChunkLlmPolicy policy(*f.model, biased, Options("chunkllm", 1));
  int checked = 0, chunks_before = -1;
  RunSession(f, &policy, Params(), [&](int) {
    const int C = policy.n_chunks();
    // A boundary this step: the selection at its end serves the new open chunk C, so distance
    // 5 is chunk C-5 (without the bias, ties pick the latest candidate, C-3).
    if (chunks_before >= 0 && C > chunks_before && C >= 5) {
      for (int l = 0; l < f.model->config().n_layer; ++l) {
        EXPECT_EQ(policy.selected()[size_t(l)], (std::vector<int>{C - 5, C - 2, C - 1})) << "layer " << l;
      }
      ++checked;
    }
    chunks_before = C;
  });
  EXPECT_GE(checked, 2);
}

// --budget-tokens: each selection holds at least the budget's tokens besides the local chunks
// (or every candidate), and passes it by less than one chunk, whatever --topk says.
TEST(ChunkPolicy, TokenBudgetSelectsChunksUntilTheyHoldTheBudget) {
  const Fixture f = MakeFixture();
  const int budget = 40, max_chunk = f.adapters->adapters().hp.max_chunk;
  for (const char* method : {"chunkllm", "novote"}) {
    ChunkPolicyOptions o = Options(method, 1);
    o.budget_tokens = budget;
    ChunkLlmPolicy policy(*f.model, f.adapters, o);
    int checked = 0;
    RunSession(f, &policy, Params(), [&](int) {
      const int C = policy.n_chunks();
      for (int l = 0; l < f.model->config().n_layer; ++l) {
        int tokens = 0, chunks = 0;
        for (int c : policy.selected()[size_t(l)])
          if (c < C - 2) tokens += policy.chunk_end(c) - policy.chunk_begin(c), ++chunks;
        const bool all = chunks == C - 2;
        ASSERT_TRUE(tokens >= budget || all) << method << " layer " << l << ": " << tokens << " tokens";
        ASSERT_LT(tokens, budget + max_chunk) << method << " layer " << l;
        if (!all) ASSERT_GT(chunks, 1) << "the budget, not --topk 1, decides";
      }
      ++checked;
    });
    EXPECT_GT(checked, 30) << method;
  }
}

// Adapters trained with the served query target select after a prompt with the query of the
// open chunk's selection token sigma (here, delay 0 and chunks of max_chunk tokens: the last
// completed chunk's last token): the same selection as each-token-query adapters whose prompt ends at sigma, which
// have the same chunks and select with sigma's own query. The same adapters with the token
// target, on the whole prompt, must choose differently at least once (the knob is read).
TEST(ChunkPolicy, ServedQueryTargetSelectsWithTheOpenChunksSelectionQuery) {
  const Fixture f = MakeFixture();
  // The random Chunk Adapter ends a chunk at nearly every token; with its bias at -100 chunks
  // end only at max_chunk (24) tokens, so prompts end inside open chunks.
  AdapterSet token_set = f.adapters->adapters();
  ASSERT_EQ(token_set.hp.chunk_hidden, 0);
  ASSERT_EQ(token_set.hp.boundary_delay, 0);
  token_set.chunk.b1[0] = -100.0f;
  AdapterSet served_set = token_set;
  served_set.hp.query_target = "served";
  auto token = std::make_shared<const AdapterRuntime>(std::move(token_set));
  auto served = std::make_shared<const AdapterRuntime>(std::move(served_set));
  // The selection after prefilling `prompt`, read after one more decoded token (the first
  // decode step selects before it runs); -1 chunks when that token closed a chunk and
  // selected again.
  auto select_after = [&](std::shared_ptr<const AdapterRuntime> a, const std::vector<int32_t>& prompt, int32_t next,
                          int* sigma) {
    ChunkLlmPolicy policy(*f.model, a, Options("chunkllm", 2));
    Session s(*f.model, Params(), &policy);
    s.Prefill(prompt);
    const int C = policy.n_chunks();
    if (sigma) *sigma = C ? policy.chunk_end(C - 1) - 1 : -1;
    s.Decode(next);
    return policy.n_chunks() == C ? policy.selected() : std::vector<std::vector<int>>{};
  };
  int compared = 0, differs_from_token = 0;
  for (int cut = 120; cut < 400; cut += 23) {
    const std::vector<int32_t> prompt(f.prompt.begin(), f.prompt.begin() + cut);
    int sigma = -1;
    const auto with_served = select_after(served, prompt, f.prompt[size_t(cut)], &sigma);
    if (with_served.empty() || sigma < 0 || sigma == cut - 1) continue;  // no open tokens after sigma
    const std::vector<int32_t> to_sigma(f.prompt.begin(), f.prompt.begin() + sigma + 1);
    const auto at_sigma = select_after(token, to_sigma, f.prompt[size_t(sigma + 1)], nullptr);
    ASSERT_FALSE(at_sigma.empty()) << "token " << sigma + 1 << " closed a chunk only without the rest of the prompt";
    EXPECT_EQ(with_served, at_sigma) << "prompt of " << cut << " tokens, sigma " << sigma;
    if (select_after(token, prompt, f.prompt[size_t(cut)], nullptr) != with_served) ++differs_from_token;
    ++compared;
  }
  EXPECT_GE(compared, 5);
  EXPECT_GE(differs_from_token, 1);
}

// --select-query recent: after a prompt (prefilled in micro-batches of 50, so the window
// crosses batch edges) the selection's queries are those of every token from the latest
// completed chunk's start to the prompt's end, each equal to the query that `last` remembers
// for a prompt cut at that token; the adapters' selection is the top-k of the mean logit over
// them (plus distance bias), recomputed here from the chunk keys; the oracle's queries are
// the tokens' own too. With the bias at -100 chunks end only every 24 tokens, so windows hold
// 25-48 tokens.
TEST(ChunkPolicy, RecentSelectQueryAveragesTheTokensSinceTheLatestChunk) {
  const Fixture f = MakeFixture();
  AdapterSet set = f.adapters->adapters();
  set.chunk.b1[0] = -100.0f;
  auto a = std::make_shared<const AdapterRuntime>(std::move(set));
  const int r = a->rank();
  for (const char* method : {"chunkllm", "oracle"}) {
    SCOPED_TRACE(method);
    ChunkPolicyOptions o = Options(method, 3);
    o.select_query = "recent";
    int compared = 0, differs_from_last = 0;
    for (int cut = 130; cut < 400; cut += 45) {
      const std::vector<int32_t> prompt(f.prompt.begin(), f.prompt.begin() + cut);
      ChunkLlmPolicy recent(*f.model, a, o);
      Session s(*f.model, Params(2, 50), &recent);
      s.Prefill(prompt);
      const int C = recent.n_chunks();
      ASSERT_GE(C, 3);
      std::vector<int> want_pos;
      for (int p = recent.chunk_begin(C - 1); p < cut; ++p) want_pos.push_back(p);
      ASSERT_EQ(recent.recent_positions(), want_pos) << "prompt of " << cut;
      const size_t n_q = want_pos.size();
      std::vector<std::vector<float>> queries;
      for (int l = 0; l < f.model->config().n_layer; ++l) queries.push_back(recent.selection_queries(l));
      const size_t W = queries[0].size() / n_q;
      for (size_t i = 0; i < n_q; i += 11) {  // each row is that token's own query (`last` at a cut there)
        ChunkLlmPolicy last(*f.model, a, Options(method, 3));
        Session sl(*f.model, Params(2, 50), &last);
        sl.Prefill(std::vector<int32_t>(f.prompt.begin(), f.prompt.begin() + want_pos[i] + 1));
        // The same micro-batch edges; the cut prompt's last micro-batch is shorter, and the
        // matmuls (f16 weights, activations rounded to f16: 2^-11 relative) may sum in another
        // order for another batch shape: a few f16 ulps through the layers and the adapter,
        // bounded here by 16 * 2^-11 of the row's largest value. Another token's query differs
        // by O(1) of it.
        for (int l = 0; l < f.model->config().n_layer; ++l) {
          const std::vector<float>& q = last.selection_queries(l);
          ASSERT_EQ(q.size(), W);
          float row_max = 0;
          for (float v : q) row_max = std::max(row_max, std::fabs(v));
          for (size_t e = 0; e < W; ++e)
            ASSERT_NEAR(queries[size_t(l)][i * W + e], q[e], 16.0f / 2048.0f * row_max)
                << "layer " << l << ", token " << want_pos[i];
        }
      }
      s.Decode(f.prompt[size_t(cut)]);
      if (recent.n_chunks() != C) continue;  // that token closed a chunk and selected again
      if (std::string(method) == "chunkllm") {
        std::vector<int> cand, tokens;
        for (int c = 0; c < C - 2; ++c) cand.push_back(c), tokens.push_back(recent.chunk_end(c) - recent.chunk_begin(c));
        std::vector<std::vector<float>> scores(queries.size(), std::vector<float>(cand.size()));
        for (size_t l = 0; l < queries.size(); ++l)
          for (size_t i = 0; i < cand.size(); ++i) {
            double d = 0;
            for (size_t q = 0; q < n_q; ++q)
              for (int e = 0; e < r; ++e)
                d += double(queries[l][q * size_t(r) + size_t(e)]) * recent.chunk_keys(int(l))[size_t(cand[i] * r + e)];
            scores[l][i] = float(d / double(n_q) / std::sqrt(double(r))) + a->DistanceBias(int(l), C - cand[i]);
          }
        const auto picked = SelectChunks(scores, tokens, SelectionBudget{3, 0}, true);
        for (size_t l = 0; l < queries.size(); ++l) {
          std::vector<int> want;
          for (int i : picked[l]) want.push_back(cand[size_t(i)]);
          want.push_back(C - 2), want.push_back(C - 1);
          EXPECT_EQ(recent.selected()[l], want) << "layer " << l << ", prompt of " << cut;
        }
      }
      ChunkLlmPolicy last(*f.model, a, Options(method, 3));
      Session sl(*f.model, Params(), &last);
      sl.Prefill(prompt);
      sl.Decode(f.prompt[size_t(cut)]);
      if (last.n_chunks() == C && last.selected() != recent.selected()) ++differs_from_last;
      ++compared;
    }
    EXPECT_GE(compared, 4);
    EXPECT_GE(differs_from_last, 1) << "the knob changes nothing";
  }
}

// With the length bias at a weight that drowns the q.k scores, every layer ranks candidates by
// length: the selected chunks are at least as long as every unselected candidate. The
// Chunk Adapter's bias is moved until chunks of several lengths form. Without the bias the
// same prompts select some shorter chunk over a longer one (the knob is read).
TEST(ChunkPolicy, LengthBiasRanksLongerChunksFirst) {
  const Fixture f = MakeFixture();
  auto selection_ok = [&](bool length_bias, float chunk_bias, int* distinct_lengths) {
    AdapterSet set = f.adapters->adapters();
    set.hp.length_bias = length_bias;
    for (auto& l : set.layers) l.length_weight = length_bias ? std::vector<float>{1000.0f} : std::vector<float>{};
    set.chunk.b1[0] = chunk_bias;
    ChunkLlmPolicy policy(*f.model, std::make_shared<const AdapterRuntime>(std::move(set)), Options("chunkllm", 4));
    Session s(*f.model, Params(), &policy);
    s.Prefill(f.prompt);
    const int C = policy.n_chunks();
    s.Decode(f.continuation[0]);
    if (policy.n_chunks() != C) return -1;  // a second selection
    std::set<int> lengths;
    int ok = 1;
    for (const std::vector<int>& chunks : policy.selected()) {
      int shortest_selected = 1 << 30, longest_left = 0;
      for (int c = 0; c < C - 2; ++c) {
        const int n = policy.chunk_end(c) - policy.chunk_begin(c);
        lengths.insert(n);
        if (std::find(chunks.begin(), chunks.end(), c) != chunks.end()) shortest_selected = std::min(shortest_selected, n);
        else longest_left = std::max(longest_left, n);
      }
      if (shortest_selected < longest_left) ok = 0;
    }
    *distinct_lengths = int(lengths.size());
    return ok;
  };
  int checked = 0, without_fails = 0;
  for (float chunk_bias : {-2.0f, -1.0f, -0.5f, 0.0f, 0.5f, 1.0f}) {
    int distinct = 0;
    const int with = selection_ok(true, chunk_bias, &distinct);
    if (with < 0 || distinct < 3) continue;
    EXPECT_EQ(with, 1) << "Chunk Adapter bias " << chunk_bias;
    if (selection_ok(false, chunk_bias, &distinct) == 0) ++without_fails;
    ++checked;
  }
  EXPECT_GE(checked, 2) << "too few prompts with chunks of several lengths";
  EXPECT_GE(without_fails, 1);
}

// A served-target adapter file selects with one query: recent is refused, as is an unknown value.
TEST(ChunkPolicy, RefusesAnUnknownOrIncompatibleSelectQuery) {
  const Fixture f = MakeFixture();
  ChunkPolicyOptions o = Options("chunkllm", 3);
  o.select_query = "first";
  EXPECT_THROW(ChunkLlmPolicy(*f.model, f.adapters, o), Error);
  AdapterSet served = f.adapters->adapters();
  served.hp.query_target = "served";
  o.select_query = "recent";
  try {
    ChunkLlmPolicy p(*f.model, std::make_shared<const AdapterRuntime>(std::move(served)), o);
    FAIL() << "recent accepted for served-target adapters";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("served"), std::string::npos) << e.what();
  }
}

// With a boundary delay of 1 the Chunk Adapter reads from token i+1's h_1 whether token i ended
// a chunk; with n boundary inputs it reads h_1 of n tokens ending there. Inference (a batched
// prefill across micro-batch edges, and token by token) must close exactly the chunks that the
// training path decides: AdapterForward's boundary logits on the teacher's h_1, with the
// max_chunk rule applied after them, written out here.
TEST(ChunkPolicy, DelayedAndWideBoundariesAreTheTrainingPathsDecisions) {
  const Fixture f = MakeFixture();
  for (auto [delay, inputs] : {std::pair{1, 1}, std::pair{1, 2}, std::pair{0, 2}}) {
    SCOPED_TRACE("boundary delay " + std::to_string(delay) + ", inputs " + std::to_string(inputs));
    AdapterHyperParams hp = f.adapters->adapters().hp;
    hp.boundary_delay = delay, hp.boundary_inputs = inputs;
    AdapterSet a = RandomAdapters(f.adapters->adapters().base, hp, 11);
    const ModelConfig& c = f.model->config();
    const std::vector<int32_t>& tokens = f.prompt;
    const int T = int(tokens.size()), max_chunk = a.hp.max_chunk;
    AdapterBatchOptions bo;
    bo.max_chunk = max_chunk;
    const AdapterBatch batch = MakeAdapterBatch(*f.model, tokens, std::vector<uint8_t>(size_t(T), 0), bo);
    AdapterModelImpl m(c.n_layer, c.n_embd, a.hp, 0);
    m.ImportFrom(a);
    const torch::Tensor logits = AdapterForward(m, batch, 1.0).boundary_logits;
    ASSERT_EQ(logits.size(0), T - delay);  // with a delay, the last token has no next token yet
    std::vector<float> p(size_t(T - delay));
    for (int i = 0; i < T - delay; ++i) p[size_t(i)] = torch::sigmoid(logits[i]).item<float>();
    // alpha in the widest gap between the 30th and 70th percentiles of p: about half the tokens
    // are boundaries, and no probability lies near enough to alpha for the engine's f16 KV
    // cache (relative error 2^-11 per stored value) to flip a decision against the teacher's.
    std::vector<float> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    float gap = 0;
    for (size_t i = sorted.size() * 3 / 10; i < sorted.size() * 7 / 10; ++i) {
      if (sorted[i + 1] - sorted[i] > gap) gap = sorted[i + 1] - sorted[i], a.hp.alpha = 0.5f * (sorted[i] + sorted[i + 1]);
    }
    ASSERT_GT(gap, 1e-3f) << "no clear threshold for this fixture";
    std::vector<int> want;
    int open = 0, by_classifier = 0;
    for (int pos = 0; pos < T; ++pos) {
      if (delay == 1 && pos >= 1 && pos - 1 >= open && p[size_t(pos - 1)] > a.hp.alpha) {
        want.push_back(open = pos), ++by_classifier;
      }
      if (delay == 0 && p[size_t(pos)] > a.hp.alpha) {
        want.push_back(open = pos + 1), ++by_classifier;
      } else if (pos + 1 - open >= max_chunk) {
        want.push_back(open = pos + 1);
      }
    }
    ASSERT_GT(by_classifier, 20);
    auto delayed = std::make_shared<const AdapterRuntime>(a);
    auto ends = [](const ChunkLlmPolicy& policy) {
      std::vector<int> e;
      for (int ch = 0; ch < policy.n_chunks(); ++ch) e.push_back(policy.chunk_end(ch));
      return e;
    };
    for (int ubatch : {64, 512}) {
      ChunkLlmPolicy policy(*f.model, delayed, Options("chunkllm", 4));
      Session s(*f.model, Params(2, ubatch), &policy);
      s.Prefill(tokens);
      EXPECT_EQ(ends(policy), want) << "prefill in micro-batches of " << ubatch;
    }
    ChunkLlmPolicy single(*f.model, delayed, Options("chunkllm", 10000));
    Session s(*f.model, Params(), &single);
    for (int32_t t : tokens) s.Decode(t);
    EXPECT_EQ(ends(single), want) << "token by token";
  }
}

TEST(WindowPolicy, StreamingReadsSinkAndWindowSepllmAddsSeparators) {
  const Fixture f = MakeFixture();
  auto tok = Tokenizer::Load(f.model->path());
  for (const char* method : {"streaming", "sepllm", "fixllm"}) {
    WindowPolicyOptions o;
    o.method = method, o.sink = 4, o.window = 64, o.stride = 8;
    if (std::string(method) == "sepllm") o.is_separator = SeparatorTokens(*tok);
    WindowPolicy policy(f.model->config(), o);
    std::vector<int32_t> all = f.prompt;
    RunSession(f, &policy, Params(), [&](int i) {
      all.push_back(f.continuation[size_t(i)]);
      const std::vector<int>& read = policy.last_read(0);
      ASSERT_FALSE(read.empty());
      const int n = int(f.prompt.size()) + i;  // positions before this step's token
      auto has = [&](int p) { return std::binary_search(read.begin(), read.end(), p); };
      for (int j = 0; j < 4; ++j) ASSERT_TRUE(has(j));
      for (int j = n - 64; j < n; ++j) ASSERT_TRUE(has(j)) << method << " window position " << j;
      ASSERT_LE(int(read.size()), 4 + 64 + 8 + (std::string(method) == "streaming" ? 0 : n / 2)) << method;
      for (int p : read) {
        if (p < 4 || p >= n - 64 - 8) continue;
        if (std::string(method) == "streaming") FAIL() << "streaming read old position " << p;
        if (std::string(method) == "fixllm") ASSERT_EQ(p % 8, 0);
        if (std::string(method) == "sepllm") ASSERT_TRUE(o.is_separator[size_t(all[size_t(p)])]) << p;
      }
    });
  }
}

TEST(PolicyFactory, RefusesBadFlagsWithClearMessages) {
  const Fixture f = MakeFixture();
  auto expect_error = [&](AttentionOptions o, const std::string& needle) {
    try {
      MakeAttentionPolicy(o, *f.model);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  AttentionOptions o;
  o.attn = "bogus";
  expect_error(o, "unknown --attn method 'bogus'");
  o.attn = "chunkllm";
  expect_error(o, "needs --adapters");
  o.attn = "dense", o.kv = "evict";
  expect_error(o, "--kv evict needs a sparse");
  o.attn = "streaming", o.kv = "sometimes";
  expect_error(o, "--kv must be resident or evict");
  o.kv = "resident", o.budget_tokens = -1;
  expect_error(o, "--budget-tokens must be >= 0");
}

}  // namespace
}  // namespace chunkllm
