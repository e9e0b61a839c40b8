// Batched decode across sessions (model/session_batch.h): several sessions, each with its own
// cache, depth and attention policy (dense, ChunkLLM methods, the window baselines), decoded in
// one graph, get the logits and the policy statistics of their own decode, bit for bit.
//
// Why exact: every matmul of a decode step computes each column on its own, in an order that does
// not depend on the other columns: with our kernels f16 weights take the batched mat-vec op
// alone and in a batch (model/batched_matvec.h); otherwise ggml's one-column dot product runs per
// column in a batch as it does alone. Attention reads each session's own cache. So a session's
// logits are the same bits alone and in any batch, whoever its partners are and wherever it sits
// (a graph that mixed up sequences' rows, caches or policies fails this).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "chunk/policy_fixture.h"
#include "chunk/policy_spec.h"
#include "core/error.h"
#include "model/session_batch.h"

namespace chunkllm {
namespace {

using test::Fixture, test::MakeFixture, test::Params, test::Options;

// One sequence of the comparison: a policy (null: dense), its prompt length and decode tokens.
struct Case {
  std::string method;  // "" for dense
  int prompt_len;
};

std::unique_ptr<AttentionPolicy> NewPolicy(const Fixture& f, const std::string& method) {
  if (method.empty()) return nullptr;
  if (method == "chunkllm-evict") {  // keeps only its gathered rows: its decode writes no full-cache row
    AttentionOptions o = Options("chunkllm", 3);
    o.kv = KvMode::kEvict;
    return PolicySpec(*f.model, o, f.adapters).NewPolicy();
  }
  AttentionOptions o = Options(method, 3);
  if (method == "chunkllm") o.first_selection = FirstSelection::kDenseStep, o.layer_topk = 2;  // the defaults' kind
  if (method == "streaming" || method == "sepllm") o.window = 64;
  return PolicySpec(*f.model, o, f.adapters).NewPolicy();
}

// How the sessions decode: alone (Session::Decode); each beside a companion of its own (a dense
// session, batches of two); or all together, in batches whose members change from step to step.
enum class Mode { kAlone, kWithCompanion, kTogether };

// Logits of every decode step of each case.
struct Decoded {
  std::vector<std::vector<std::vector<float>>> logits;  // [case][step]
  std::vector<AttentionStats> stats;
  std::vector<bool> released;  // whether the session's full cache was evicted
};

// Whether case i decodes at step t of `steps` when all decode together: cases 0 and 1 always
// (so every batch has two sessions or more), the others join late and leave early.
bool Member(size_t i, int t, int steps) { return i < 2 || (t >= int(i) && t < steps - int(i) / 2); }

Decoded Decode(const Fixture& f, const std::vector<Case>& cases, int steps, Mode mode, AttentionKernel kernel) {
  SessionParams p = Params();
  p.attn_kernel = kernel;
  std::vector<std::unique_ptr<AttentionPolicy>> policies;
  std::vector<std::unique_ptr<Session>> sessions, companions;
  for (const Case& c : cases) {
    policies.push_back(NewPolicy(f, c.method));
    sessions.push_back(std::make_unique<Session>(*f.model, p, policies.back().get()));
    sessions.back()->Prefill(std::vector<int32_t>(f.prompt.begin(), f.prompt.begin() + c.prompt_len));
    if (mode != Mode::kWithCompanion) continue;
    companions.push_back(std::make_unique<Session>(*f.model, p));
    companions.back()->Prefill(std::vector<int32_t>(f.prompt.begin() + 7, f.prompt.begin() + 7 + 90));
  }
  SessionBatch batch(*f.model, p.n_threads, kernel);
  Decoded run;
  run.logits.resize(cases.size());
  for (int t = 0; t < steps; ++t) {
    const int32_t token = f.continuation[size_t(t)];
    std::vector<Session*> together;
    for (size_t i = 0; i < cases.size(); ++i) {
      if (!Member(i, t, steps)) continue;
      if (mode == Mode::kAlone) sessions[i]->Decode(token);
      if (mode == Mode::kWithCompanion) batch.Decode({companions[i].get(), sessions[i].get()}, {token, token});
      if (mode == Mode::kTogether) together.push_back(sessions[i].get());
    }
    if (mode == Mode::kTogether) batch.Decode(together, std::vector<int32_t>(together.size(), token));
    for (size_t i = 0; i < cases.size(); ++i) {
      if (Member(i, t, steps)) run.logits[i].push_back(sessions[i]->last_logits());
    }
  }
  for (auto& policy : policies) run.stats.push_back(policy ? policy->stats() : AttentionStats{});
  for (auto& session : sessions) run.released.push_back(session->kv_cache().released());
  return run;
}

std::string NameOf(const Case& c) { return c.method.empty() ? "dense" : c.method; }

void ExpectSameStats(const AttentionStats& a, const AttentionStats& b, const std::string& name) {
  EXPECT_EQ(a.decode_steps, b.decode_steps) << name;
  EXPECT_EQ(a.attended_sum, b.attended_sum) << name;
  EXPECT_EQ(a.selections, b.selections) << name;
}

void ExpectSameBits(const Decoded& a, const Decoded& b, const std::vector<Case>& cases) {
  for (size_t i = 0; i < cases.size(); ++i) {
    ASSERT_EQ(a.logits[i].size(), b.logits[i].size());
    ASSERT_FALSE(a.logits[i].empty());
    for (size_t t = 0; t < a.logits[i].size(); ++t) {
      ASSERT_EQ(0, std::memcmp(a.logits[i][t].data(), b.logits[i][t].data(), a.logits[i][t].size() * sizeof(float)))
          << NameOf(cases[i]) << " (case " << i << "): logits differ at step " << t;
    }
    ExpectSameStats(a.stats[i], b.stats[i], NameOf(cases[i]));
  }
}

// Prompts of different lengths put the sessions at different depths, across the 256-row KV
// padding (one of them crosses it while decoding); every method keeps its own index.
const std::vector<Case> kMixed = {{"", 250}, {"chunkllm", 400}, {"", 37}, {"novote", 300}, {"oracle", 200},
                                  {"streaming", 260}, {"sepllm", 120}, {"chunk-fixed", 180}, {"chunkllm-evict", 330}};

TEST(SessionBatch, ASessionsLogitsAreItsLoneDecodesAndDoNotDependOnItsPartners) {
  const Fixture f = MakeFixture();
  for (AttentionKernel kernel : {AttentionKernel::kChunkllm, AttentionKernel::kGgml}) {
    const Decoded together = Decode(f, kMixed, 24, Mode::kTogether, kernel);
    EXPECT_GT(together.stats[1].selections, 0) << "ChunkLLM never selected: the test would not see its index";
    EXPECT_TRUE(together.released.back()) << "the evicting policy kept its full cache: the test would not see it";
    ExpectSameBits(Decode(f, kMixed, 24, Mode::kAlone, kernel), together, kMixed);
    ExpectSameBits(Decode(f, kMixed, 24, Mode::kWithCompanion, kernel), together, kMixed);
  }
}

TEST(SessionBatch, SeventeenSessionsAreTheirLoneDecodesBitForBit) {
  // More sessions than a lone batch's mat-vec limit (16 tokens) and than one pass of columns (8);
  // all 17 decode together at steps 16 and 17 (Member).
  const Fixture f = MakeFixture();
  std::vector<Case> many;
  for (int i = 0; i < 17; ++i) many.push_back({i % 3 == 1 ? "chunkllm" : "", 40 + 21 * i});
  for (AttentionKernel kernel : {AttentionKernel::kChunkllm, AttentionKernel::kGgml}) {
    const Decoded alone = Decode(f, many, 26, Mode::kAlone, kernel);
    const Decoded together = Decode(f, many, 26, Mode::kTogether, kernel);
    ExpectSameBits(alone, together, many);
  }
}

// A policy whose step cannot be planned: it claims more gathered rows than its cache holds.
class UnplannablePolicy final : public AttentionPolicy {
 public:
  explicit UnplannablePolicy(const ModelConfig& c) : cache_(c, 256, GGML_TYPE_F16) {}
  const char* name() const override { return "unplannable"; }
  const KvCache* gathered_cache() const override { return &cache_; }
  int gathered_rows(int) const override { return 1000; }

 private:
  KvCache cache_;
};

TEST(SessionBatch, ASessionThatCannotPlanIsLeftOutAndTheOthersDecode) {
  const Fixture f = MakeFixture();
  const SessionParams p = Params();
  const std::vector<int32_t> prompt(f.prompt.begin(), f.prompt.begin() + 50);
  Session alone(*f.model, p), a(*f.model, p), c(*f.model, p);
  UnplannablePolicy bad_policy(f.model->config());
  Session bad(*f.model, p, &bad_policy);
  for (Session* s : {&alone, &a, &c}) s->Prefill(prompt);
  bad.Prefill(prompt);  // prefill attends densely: only decode reads the gathered cache
  alone.Decode(7);
  SessionBatch batch(*f.model, p.n_threads, p.attn_kernel);
  const auto failures = batch.Decode({&a, &bad, &c}, {7, 7, 7});
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].index, 1u);
  EXPECT_NE(failures[0].message.find("gathered attention needs"), std::string::npos) << failures[0].message;
  for (Session* s : {&a, &c}) {
    EXPECT_EQ(s->n_past(), 51);
    EXPECT_EQ(0, std::memcmp(s->last_logits().data(), alone.last_logits().data(), alone.last_logits().size() * sizeof(float)));
  }
}

TEST(SessionBatch, ABatchAfterAnEvictedCacheCameBackReadsTheNewCache) {
  // An evicting session releases its full cache; Truncate(0) allocates a new one (which may land
  // at the old one's address). The batch's graph from before must not be reused over it.
  const Fixture f = MakeFixture();
  AttentionOptions o = Options("chunkllm", 3);
  o.kv = KvMode::kEvict;
  const PolicySpec spec(*f.model, o, f.adapters);
  const SessionParams p = Params();
  std::unique_ptr<AttentionPolicy> evicting = spec.NewPolicy();
  Session s(*f.model, p, evicting.get()), partner(*f.model, p), reference(*f.model, p, nullptr);
  const std::vector<int32_t> prompt(f.prompt.begin(), f.prompt.begin() + 200);
  s.Prefill(prompt);
  partner.Prefill(prompt);
  SessionBatch batch(*f.model, p.n_threads, p.attn_kernel);
  for (int t = 0; t < 30; ++t) batch.Decode({&s, &partner}, {f.continuation[size_t(t)], f.continuation[size_t(t)]});
  ASSERT_TRUE(s.kv_cache().released()) << "the policy did not evict: the test would not see a new cache";
  s.Truncate(0);  // the full cache again, new tensors
  s.ResetPolicy(nullptr);
  const std::vector<int32_t> other(f.prompt.begin() + 100, f.prompt.begin() + 300);
  s.Prefill(other);
  reference.Prefill(other);
  partner.Truncate(200);
  for (int t = 0; t < 3; ++t) {
    batch.Decode({&s, &partner}, {f.continuation[size_t(t)], f.continuation[size_t(t)]});
    reference.Decode(f.continuation[size_t(t)]);
    ASSERT_EQ(0, std::memcmp(s.last_logits().data(), reference.last_logits().data(), reference.last_logits().size() * sizeof(float)))
        << "step " << t;
  }
}

TEST(SessionBatch, ASessionOfTheBatchIsNotTheSameAsAnotherSession) {
  // Negative control for the comparisons above: two sessions with different prompts, batched,
  // must not get each other's logits (a graph that mixed up the sequences' caches would).
  const Fixture f = MakeFixture();
  const std::vector<Case> two = {{"", 100}, {"", 300}};
  const Decoded together = Decode(f, two, 2, Mode::kTogether, AttentionKernel::kChunkllm);
  for (size_t t = 0; t < 2; ++t) {
    EXPECT_NE(0, std::memcmp(together.logits[0][t].data(), together.logits[1][t].data(),
                             together.logits[0][t].size() * sizeof(float)));
  }
}

TEST(SessionBatch, RefusesBadCallsBeforeAnySessionChanges) {
  const Fixture f = MakeFixture();
  SessionParams p = Params();
  p.n_ctx = 300;
  Session a(*f.model, p), b(*f.model, p), full(*f.model, p);
  a.Prefill(std::vector<int32_t>(f.prompt.begin(), f.prompt.begin() + 10));
  b.Prefill(std::vector<int32_t>(f.prompt.begin(), f.prompt.begin() + 20));
  full.Prefill(std::vector<int32_t>(f.prompt.begin(), f.prompt.begin() + 300));
  SessionBatch batch(*f.model, 2, p.attn_kernel);
  const int V = f.model->config().n_vocab;
  const auto expect_refused = [&](const std::vector<Session*>& s, const std::vector<int32_t>& t, const char* what) {
    try {
      batch.Decode(s, t);
      ADD_FAILURE() << "accepted " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
    EXPECT_EQ(a.n_past(), 10);
    EXPECT_EQ(b.n_past(), 20);
  };
  expect_refused({&a, &b}, {5, V}, "out of range");
  expect_refused({&a, &b, &full}, {5, 6, 7}, "context is full");
  expect_refused({&a, &a}, {5, 6}, "twice");
  expect_refused({&a, &b}, {5}, "one token per session");
  batch.Decode({&a, &b}, {5, 6});
  EXPECT_EQ(a.n_past(), 11);
  EXPECT_EQ(b.n_past(), 21);
}

}  // namespace
}  // namespace chunkllm
