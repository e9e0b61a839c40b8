// Sparse attention policies in the engine: ChunkLLM with all chunks selected is dense attention
// bit for bit; with a small k the gathered attention equals a masked dense computation over the
// same positions; the chunk index partitions the sequence; sinks, local chunks and the open
// chunk are always read; batched prefill builds the same index as token-by-token decoding;
// threads do not change results; eviction releases the full cache and never reads it again;
// a delayed Chunk Adapter closes the chunks that training's classifier decides; chunk keys
// (boundary or mean) are the training path's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <tuple>

#include "chunk/adapter_file.h"
#include "chunk/chunkllm_policy.h"
#include "chunk/policy_factory.h"
#include "chunk/selection.h"
#include "chunk/window_policy.h"
#include "train/adapter_evaluation.h"
#include "train/adapter_losses.h"
#include "train/adapter_model.h"
#include "model/model.h"
#include "model/session.h"
#include "chunk/policy_fixture.h"
#include "test_util.h"
#include "text/llama_log.h"
#include "text/tokenizer.h"
#include "core/error.h"

namespace chunkllm {
namespace {

using test::Fixture, test::MakeFixture, test::Params, test::RunSession, test::Options;

TEST(ChunkPolicy, SelectingEveryChunkReproducesDenseLogitsExactly) {
  const Fixture f = MakeFixture();
  const auto dense = RunSession(f, nullptr, Params());
  for (const char* method : {"chunkllm", "noicac", "novote", "chunk-fixed", "oracle", "chunkllm+dense-step"}) {
    ChunkPolicyOptions o = Options(method, 10000);
    if (o.method == "chunkllm+dense-step") o.method = "chunkllm", o.first_selection = "dense-step", o.layer_topk = 2;
    ChunkLlmPolicy policy(*f.model, f.adapters, o);
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

// Chunk keys of layer l computed along two paths agree to rounding: the engine's f16 (u =
// 2^-11) accumulations, grouped differently by batch shape or graph, put a few u of relative
// error per layer into attn_in: max |a - b| < 4 (l + 1) u max |a|.
::testing::AssertionResult KeysAgreeToF16Rounding(const float* a, const float* b, size_t n, int l) {
  float scale = 0, diff = 0;
  for (size_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(a[i])), diff = std::max(diff, std::fabs(a[i] - b[i]));
  const float bound = 4.0f * float(l + 1) * std::ldexp(1.0f, -11) * scale;
  if (diff < bound) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max difference " << diff << ", bound " << bound;
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
    EXPECT_TRUE(KeysAgreeToF16Rounding(ka.data(), kb.data(), ka.size(), l)) << "layer " << l;
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

// A chunk's key at inference is the training path's (ChunkKeys on the K-Adapter features of
// the teacher's attn_in, train/adapter_losses.h) for the chunks the policy closed: the
// boundary token's feature, or (chunk_key mean) the mean over the chunk's tokens. Checked for
// a batched prefill across micro-batch edges and token by token, with the Chunk Adapter
// deciding on the token alone and one token late. The engine's f16 KV cache against the
// teacher's graph: a few 2^-11 of relative error per layer in attn_in, as in the batched
// prefill test above.
TEST(ChunkPolicy, ChunkKeysAreTheTrainingPathsKeys) {
  const Fixture f = MakeFixture();
  const ModelConfig& c = f.model->config();
  const int T = int(f.prompt.size());
  AdapterBatchOptions bo;
  const AdapterBatch batch = MakeAdapterBatch(*f.model, f.prompt, std::vector<uint8_t>(size_t(T), 0), bo);
  // (key mode, boundary delay, rotated features): with rope_dims the graph rotates each token's
  // features by its position (ggml_rope_ext) and training by RotateFeatures (torch, angles in
  // double): the angles' f32 rounding at positions < 400 is far below the f16 tolerance.
  for (auto [mode, delay, rope] : {std::tuple{"boundary", 0, 0}, std::tuple{"boundary", 1, 0}, std::tuple{"mean", 0, 0},
                                   std::tuple{"mean", 1, 0}, std::tuple{"mean", 1, 8}, std::tuple{"boundary", 0, 6}}) {
    SCOPED_TRACE(std::string(mode) + " keys, boundary delay " + std::to_string(delay) + ", rope dims " +
                 std::to_string(rope));
    AdapterSet a = f.adapters->adapters();
    a.hp.chunk_key = mode, a.hp.boundary_delay = delay, a.hp.rope_dims = rope, a.hp.rope_base = 100.0f;
    a.chunk.b1[0] -= 2.0f;  // chunks of a few tokens rather than one
    AdapterModelImpl m(c.n_layer, c.n_embd, a.hp, 0);
    m.ImportFrom(a);
    const torch::Tensor features =
        RotateFeatures(m.KeyFeatures(batch.x), rope, a.hp.rope_base).detach();  // (L, T, r)
    auto runtime = std::make_shared<const AdapterRuntime>(a);
    for (int ubatch : {0, 64}) {  // 0: token by token, every chunk selected (dense-exact steps)
      ChunkLlmPolicy policy(*f.model, runtime, Options("chunkllm", ubatch > 0 ? 4 : 10000));
      Session s(*f.model, Params(2, ubatch > 0 ? ubatch : 64), &policy);
      if (ubatch > 0) {
        s.Prefill(f.prompt);
      } else {
        for (int32_t t : f.prompt) s.Decode(t);
      }
      std::vector<uint8_t> labels(size_t(T), 0);
      int longest = 0;
      for (int ch = 0; ch < policy.n_chunks(); ++ch) {
        labels[size_t(policy.chunk_end(ch) - 1)] = 1;
        longest = std::max(longest, policy.chunk_end(ch) - policy.chunk_begin(ch));
      }
      ASSERT_GT(policy.n_chunks(), 20);
      ASSERT_GE(longest, 3) << "mean and boundary keys must differ somewhere";
      ChunkPartition p = PartitionChunks(labels, 0);
      const torch::Tensor want = ChunkKeys(features, p, mode);  // (L, C', r), C' >= n_chunks (open chunk)
      for (int l = 0; l < c.n_layer; ++l) {
        const std::vector<float>& got = policy.chunk_keys(l);
        ASSERT_EQ(got.size(), size_t(policy.n_chunks()) * size_t(a.hp.rank));
        const torch::Tensor w = want[l].slice(0, 0, policy.n_chunks()).contiguous();
        EXPECT_TRUE(KeysAgreeToF16Rounding(w.data_ptr<float>(), got.data(), got.size(), l))
            << "layer " << l << ", ubatch " << ubatch;
      }
    }
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
