// Chunk-sparse prefill (chunk/sparse_prefill.h) in the engine: with a budget that covers every
// chunk it is the dense prefill bit for bit (logits of every prompt token and the chunk index);
// with a small budget each token's logits equal, to the kernels' rounding, attention over exactly
// the positions the batch gathered, computed token by token through decode's gathered path; the
// positions hold the sink, the window, the batch and whole chunks; the dense tail and the
// "fewer rows than dense" rule decide which batches are sparse; it is the default of the methods
// that select with adapters.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include "chunk/chunk_score.h"
#include "chunk/chunkllm_policy.h"
#include "chunk/gathered_policy.h"
#include "chunk/policy_fixture.h"
#include "chunk/sparse_prefill.h"
#include "core/error.h"
#include "model/session.h"

namespace chunkllm {
namespace {

using test::Fixture, test::MakeFixture, test::Options;

AttentionOptions SparseOptions(const std::string& method, int budget, int window) {
  AttentionOptions o = Options(method, 2);
  o.prefill = PrefillMode::kSparse;
  o.prefill_budget = budget, o.prefill_window = window, o.prefill_dense_tail = 0;
  return o;
}

SessionParams Params(int ubatch) {
  SessionParams p = test::Params(2, ubatch);
  p.attn_kernel = AttentionKernel::kGgml;
  return p;
}

// Chunks of 24 tokens (the fixture's random Chunk Adapter ends one at nearly every token).
Fixture WithLongChunks() {
  Fixture f = MakeFixture();
  f.adapters = std::make_shared<const AdapterRuntime>(test::AdaptersWithMaxLengthChunks(f));
  return f;
}

TEST(SparsePrefill, EveryChunkSelectedIsTheDensePrefillBitForBit) {
  const Fixture f = MakeFixture();
  for (const char* method : {"chunkllm", "chunk-fixed"}) {
    AttentionOptions dense_opts = Options(method, 2);
    ChunkLlmPolicy dense(*f.model, f.adapters, dense_opts);
    ChunkLlmPolicy sparse(*f.model, f.adapters, SparseOptions(method, 100000, 0));
    sparse.set_prefill_sparse_everywhere(true);
    Session a(*f.model, Params(64), &dense), b(*f.model, Params(64), &sparse);
    std::vector<float> la, lb;
    a.Prefill(f.prompt, &la);
    b.Prefill(f.prompt, &lb);
    const int batches = (int(f.prompt.size()) + 63) / 64;
    EXPECT_EQ(sparse.stats().sparse_prefill_batches, batches) << method << ": the sparse path did not run";
    EXPECT_EQ(dense.stats().sparse_prefill_batches, 0);
    ASSERT_EQ(la.size(), lb.size());
    for (size_t t = 0; t < f.prompt.size(); ++t) {
      const size_t V = la.size() / f.prompt.size();
      ASSERT_EQ(0, std::memcmp(la.data() + t * V, lb.data() + t * V, V * sizeof(float)))
          << method << ": logits of prompt token " << t << " differ";
    }
    EXPECT_DOUBLE_EQ(sparse.stats().prefill_attended_fraction(), 1.0) << method;
    // The chunk index the sparse prefill built is the dense one.
    ASSERT_EQ(dense.n_chunks(), sparse.n_chunks()) << method;
    for (int c = 0; c < dense.n_chunks(); ++c) ASSERT_EQ(dense.chunk_end(c), sparse.chunk_end(c)) << c;
    for (int l = 0; l < f.model->config().n_layer; ++l) EXPECT_EQ(dense.chunk_keys(l), sparse.chunk_keys(l)) << l;
    // And decoding after it too.
    for (int i = 0; i < 8; ++i) {
      const std::vector<float> da = a.Decode(f.continuation[size_t(i)]);
      const std::vector<float>& db = b.Decode(f.continuation[size_t(i)]);
      ASSERT_EQ(0, std::memcmp(da.data(), db.data(), da.size() * sizeof(float))) << method << " step " << i;
    }
  }
}

// Attends token by token (decode's gathered path) to a fixed plan: token p reads, in layer l,
// plan[p][l] (positions before p) and itself.
class PlannedPolicy final : public GatheredPolicy {
 public:
  PlannedPolicy(const ModelConfig& c, std::map<int, std::vector<std::vector<int>>> plan)
      : GatheredPolicy(c, /*evict=*/false), plan_(std::move(plan)) {}
  const char* name() const override { return "planned"; }

 protected:
  void OnBeginBatch(int pos0, int n, const int32_t*) override {
    ASSERT_EQ(n, 1);
    const auto& layers = plan_.at(pos0);
    for (int l = 0; l < n_layer(); ++l) SetPositions(l, layers[size_t(l)]);
  }
  void OnEndBatch(const SequenceGraph&, int, int) override {}
  void OnTruncate(int) override {}

 private:
  std::map<int, std::vector<std::vector<int>>> plan_;
};

// Logits of prompt tokens [from, n) of a sparse prefill in batches of 64 against token-by-token
// attention over the same positions; returns max |diff| / max |logit|.
double SparseAgainstPlanned(const Fixture& f, const AttentionOptions& o, int from, bool perturb = false) {
  const int L = f.model->config().n_layer, n = int(f.prompt.size()), T = 64;
  ChunkLlmPolicy sparse(*f.model, f.adapters, o);
  sparse.set_prefill_sparse_everywhere(true);
  Session s(*f.model, Params(T), &sparse);
  std::vector<float> logits, batch_logits;
  std::map<int, std::vector<std::vector<int>>> plan;
  for (int b = 0; b < n; b += T) {
    const std::vector<int32_t> piece(f.prompt.begin() + b, f.prompt.begin() + std::min(n, b + T));
    s.Prefill(piece, &batch_logits);
    logits.insert(logits.end(), batch_logits.begin(), batch_logits.end());
    for (int p = b; p < b + int(piece.size()); ++p) {
      auto& layers = plan[p];
      for (int l = 0; l < L; ++l) {
        const std::vector<int>& read = sparse.prefill_positions(l);
        std::vector<int> before;
        for (int q : read) {
          if (q < p) before.push_back(q);
        }
        // The control: one position the batch read left out of the reference.
        if (perturb && l == L - 1 && before.size() > 8) before.erase(before.begin() + 4);
        layers.push_back(before);
      }
    }
  }
  EXPECT_EQ(sparse.stats().sparse_prefill_batches, (n + T - 1) / T);
  PlannedPolicy planned(f.model->config(), plan);
  Session r(*f.model, Params(T), &planned);
  const size_t V = size_t(f.model->config().n_vocab);
  double diff = 0, scale = 0;
  for (int p = 0; p < n; ++p) {
    const std::vector<float>& ref = r.Decode(f.prompt[size_t(p)]);
    if (p < from) continue;
    for (size_t v = 0; v < V; ++v) {
      diff = std::max(diff, std::fabs(double(ref[v]) - double(logits[size_t(p) * V + v])));
      scale = std::max(scale, std::fabs(double(ref[v])));
    }
  }
  return diff / scale;
}

// Batched (flash attention over T queries) and one-query kernels round differently: a relative
// (5L + 2) u of max |logit| with u = 2^-11 (f16 K/V and activations), as the engine's logits
// tests bound a difference of kernels (tests/model/test_logits_vs_llama.cpp).
TEST(SparsePrefill, SmallBudgetEqualsAttentionOverTheSamePositionsTokenByToken) {
  const Fixture f = WithLongChunks();
  const double u = std::ldexp(1.0, -11), bound = (5.0 * f.model->config().n_layer + 2) * u;
  for (const char* method : {"chunkllm", "chunk-fixed"}) {
    const AttentionOptions o = SparseOptions(method, 48, 32);
    const double err = SparseAgainstPlanned(f, o, 0);
    std::printf("  %s: max|diff|/max|logit| %.3g (bound %.3g)\n", method, err, bound);
    EXPECT_LT(err, bound) << method;
    // Negative control: the reference without one of the positions the last layer read is far
    // outside the bound (the comparison can see a wrong position set).
    const double wrong = SparseAgainstPlanned(f, o, 128, /*perturb=*/true);
    std::printf("  %s, one position left out: %.3g\n", method, wrong);
    EXPECT_GT(wrong, bound) << method;
  }
}

TEST(SparsePrefill, PositionsHoldSinkWindowBatchAndWholeChunks) {
  const Fixture f = WithLongChunks();
  const int budget = 40, window = 32, T = 64;
  for (int groups : {1, 3, 0}) {  // the batch's mean query, three groups, every token
  SCOPED_TRACE(testing::Message() << "query groups " << groups);
  AttentionOptions o = SparseOptions("chunkllm", budget, window);
  o.prefill_query_groups = groups;
  ChunkLlmPolicy p(*f.model, f.adapters, o);
  p.set_prefill_sparse_everywhere(true);
  Session s(*f.model, Params(T), &p);
  const int n = int(f.prompt.size());
  for (int b = 0; b < n; b += T) {
    // The index before the batch: the chunks the batch could select from.
    std::vector<std::pair<int, int>> chunks;
    for (int c = 0; c < p.n_chunks(); ++c) chunks.push_back({p.chunk_begin(c), p.chunk_end(c)});
    const int open_begin = chunks.empty() ? 0 : chunks.back().second;
    s.Prefill(std::vector<int32_t>(f.prompt.begin() + b, f.prompt.begin() + std::min(n, b + T)));
    const int end = std::min(n, b + T);
    for (int l = 0; l < f.model->config().n_layer; ++l) {
      const std::vector<int>& pos = p.prefill_positions(l);
      ASSERT_TRUE(std::is_sorted(pos.begin(), pos.end()));
      ASSERT_EQ(std::adjacent_find(pos.begin(), pos.end()), pos.end()) << "a position twice";
      auto has = [&](int q) { return std::binary_search(pos.begin(), pos.end(), q); };
      for (int q = 0; q < std::min(4, b); ++q) EXPECT_TRUE(has(q)) << "sink " << q;
      for (int q = std::max(0, b - window); q < end; ++q) EXPECT_TRUE(has(q)) << "window/batch " << q;
      for (int q = open_begin; q < b; ++q) EXPECT_TRUE(has(q)) << "open chunk " << q;
      ASSERT_EQ(pos.back(), end - 1);
      // Outside the sink, the window and the open chunk: whole chunks, at most the budget's
      // tokens and one chunk more.
      int selected = 0;
      for (const auto& [cb, ce] : chunks) {
        if (ce <= 4 || ce > b - window) continue;
        int in = 0;
        for (int q = std::max(cb, 4); q < ce; ++q) in += has(q);
        EXPECT_TRUE(in == 0 || in == ce - std::max(cb, 4)) << "chunk [" << cb << ", " << ce << ") cut";
        selected += in;
      }
      EXPECT_LE(selected, budget + 24) << "batch at " << b << ", layer " << l;
      // (A chunk's tokens in the sink are not counted here.)
      if (b >= 192) EXPECT_GE(selected, budget - 4) << "batch at " << b << ", layer " << l;
    }
  }
  EXPECT_LT(p.stats().prefill_attended_fraction(), 0.7);
  }
}

TEST(SparsePrefill, TheDenseTailAndShortPastsRunDense) {
  const Fixture f = MakeFixture();
  AttentionOptions o = SparseOptions("chunkllm", 16, 16);
  o.prefill_dense_tail = 64;  // 400 tokens in batches of 64: those past 336, [320, 400), dense
  ChunkLlmPolicy everywhere(*f.model, f.adapters, o);
  everywhere.set_prefill_sparse_everywhere(true);
  Session a(*f.model, Params(64), &everywhere);
  a.Prefill(f.prompt);
  EXPECT_EQ(everywhere.stats().sparse_prefill_batches, 5);  // [0, 320): 5 batches
  // The same prompt prefilled one micro-batch at a time (as a server does), told where it ends:
  // the same batches are sparse, with the same logits.
  ChunkLlmPolicy pieces(*f.model, f.adapters, o);
  pieces.set_prefill_sparse_everywhere(true);
  Session p(*f.model, Params(64), &pieces);
  for (size_t b = 0; b < f.prompt.size(); b += 64) {
    const std::vector<int32_t> piece(f.prompt.begin() + long(b), f.prompt.begin() + long(std::min(f.prompt.size(), b + 64)));
    p.Prefill(piece, nullptr, {}, int(f.prompt.size()));
  }
  EXPECT_EQ(pieces.stats().sparse_prefill_batches, 5);
  EXPECT_EQ(p.last_logits(), a.last_logits());
  EXPECT_THROW(p.Prefill({1, 2}, nullptr, {}, p.n_past() + 1), Error);  // ends before these tokens
  // Without the test switch a batch is sparse only if its gathered rows (the bound, padded to
  // 256: 16 + 16 + 3 x 24 + 4 + 64 -> 256) are fewer than its causal past's padded rows (256 up
  // up to position 256, 512 after): only [256, 320).
  ChunkLlmPolicy by_rule(*f.model, f.adapters, o);
  Session b(*f.model, Params(64), &by_rule);
  b.Prefill(f.prompt);
  EXPECT_EQ(by_rule.stats().sparse_prefill_batches, 1);
}

TEST(SparsePrefill, RefusedWhereItCannotRun) {
  AttentionOptions o;
  o.prefill = PrefillMode::kSparse;
  o.method = AttentionMethod::kStreaming;
  EXPECT_THROW(CheckAttentionOptions(o), Error);
  o.method = AttentionMethod::kOracle;
  EXPECT_THROW(CheckAttentionOptions(o), Error);
  o.method = AttentionMethod::kChunkLlm;
  CheckAttentionOptions(o);
  o.prefill_budget = -1;
  EXPECT_THROW(CheckAttentionOptions(o), Error);
  EXPECT_THROW(ParsePrefillMode("half"), Error);
}

// A batch's query groups cover its tokens once, in order, as evenly as can be.
TEST(SparsePrefill, QueryGroupsSplitTheBatchEvenly) {
  using Ranges = std::vector<std::pair<int, int>>;
  EXPECT_EQ(PrefillQueryGroups(10, 1), (Ranges{{0, 10}}));
  EXPECT_EQ(PrefillQueryGroups(10, 3), (Ranges{{0, 3}, {3, 6}, {6, 10}}));
  EXPECT_EQ(PrefillQueryGroups(3, 0), (Ranges{{0, 1}, {1, 2}, {2, 3}}));
  EXPECT_EQ(PrefillQueryGroups(3, 7), (Ranges{{0, 1}, {1, 2}, {2, 3}}));
}

// With several query groups a candidate's score is the largest of the groups' scores, each
// normalised over the candidates (log-softmax) and measured from the group's own position (the
// adapters' length and distance features read it);
// against ChunkScores called for each group by hand. One group: ChunkScores' scores as they are.
TEST(SparsePrefill, GroupScoresAreTheBestNormalisedGroupScore) {
  BaseModelInfo base;
  base.arch = "llama", base.n_layer = 3, base.n_embd = 128, base.n_head = 4, base.n_head_kv = 2;
  base.head_dim = 32, base.n_vocab = 32000;
  AdapterHyperParams hp;
  hp.d_adapter = 32, hp.rank = 16, hp.max_chunk = 24;
  hp.query_features = true;  // the score reads each group's distance to a chunk
  const AdapterRuntime runtime(RandomAdapters(base, hp, 7));
  const AdapterSet& a = runtime.adapters();
  const int r = a.hp.rank, n = 9, l = 1;
  std::mt19937 rng(3);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> keys(size_t(n) * size_t(r));
  for (float& x : keys) x = gauss(rng);
  ChunkCandidates cand;
  std::vector<int> last;
  for (int c = 0; c < n; ++c) {
    cand.chunk.push_back(c), cand.distance.push_back(n + 1 - c), cand.tokens.push_back(5 + 3 * c);
    last.push_back(20 * c + 10), cand.token_distance.push_back(0);
  }
  std::vector<PrefillQuery> groups;
  for (int g = 0; g < 3; ++g) {
    std::vector<float> feat(size_t(4) * size_t(r)), rot(size_t(4) * size_t(r));
    for (float& x : feat) x = 2.0f * gauss(rng);
    for (float& x : rot) x = 2.0f * gauss(rng);
    groups.push_back({SumQueries(r, 4, feat.data(), rot.data()), 200 + 40 * g});
  }
  // By hand: each group's scores from its own position, normalised (log-softmax); want = the
  // largest per candidate.
  std::vector<std::vector<float>> normalised;
  for (const PrefillQuery& g : groups) {
    ChunkCandidates own = cand;
    for (int c = 0; c < n; ++c) own.token_distance[size_t(c)] = g.pos - last[size_t(c)];
    std::vector<float> s;
    ChunkScores(a, l, g.q, keys.data(), own, s);
    if (&g == &groups[0]) {  // one group: its scores as they are
      std::vector<float> one;
      PrefillChunkScores(a, l, {g}, keys.data(), last, cand, one);
      EXPECT_EQ(one, s);
    }
    double z = 0.0;
    for (float x : s) z += std::exp(double(x));
    for (float& x : s) x = float(double(x) - std::log(z));
    normalised.push_back(s);
  }
  std::vector<float> got, want(size_t(n), -INFINITY);
  for (const std::vector<float>& s : normalised)
    for (int c = 0; c < n; ++c) want[size_t(c)] = std::max(want[size_t(c)], s[size_t(c)]);
  PrefillChunkScores(a, l, groups, keys.data(), last, cand, got);
  ASSERT_EQ(got.size(), size_t(n));
  for (int c = 0; c < n; ++c) EXPECT_NEAR(got[size_t(c)], want[size_t(c)], 1e-4f * (1.0f + std::fabs(want[size_t(c)]))) << c;
  // Some candidate's best group is not the first, or the test could not tell the max from one
  // group's scores.
  bool another_group_wins = false;
  for (int c = 0; c < n; ++c) another_group_wins |= want[size_t(c)] > normalised[0][size_t(c)] + 1e-3f;
  EXPECT_TRUE(another_group_wins);
}

// Unset, --prefill is each method's own: sparse where adapters select (chunkllm, chunk-fixed,
// novote, noicac), dense for the oracle and the methods without adapters, and every default
// passes the checks; asked for, dense is dense for any method.
TEST(SparsePrefill, IsTheDefaultOfTheMethodsThatSelectWithAdapters) {
  for (const auto& [name, method] : AttentionMethodNames()) {
    AttentionOptions o;
    o.method = method;
    const bool sparse = method == AttentionMethod::kChunkLlm || method == AttentionMethod::kChunkFixed ||
                        method == AttentionMethod::kNoVote || method == AttentionMethod::kNoIcac;
    EXPECT_EQ(o.prefill_mode(), sparse ? PrefillMode::kSparse : PrefillMode::kDense) << name;
    EXPECT_NO_THROW(CheckAttentionOptions(o)) << name;
    o.prefill = PrefillMode::kDense;
    EXPECT_EQ(o.prefill_mode(), PrefillMode::kDense) << name;
  }
}

}  // namespace
}  // namespace chunkllm
