// How a ChunkLLM selection ranks chunks: the learned distance and length biases, a token
// budget instead of k, --local-tokens, the served query target, --select-query recent, --first-selection
// dense-step, --layer-topk and the query-dependent log features.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>

#include "chunk/adapter_file.h"
#include "chunk/chunkllm_policy.h"
#include "chunk/chunk_score.h"
#include "chunk/policy_spec.h"
#include "chunk/selection.h"
#include "core/error.h"
#include "model/model.h"
#include "model/session.h"
#include "chunk/policy_fixture.h"

namespace chunkllm {
namespace {

using test::BiasOnlyAdapters, test::Fixture, test::MakeFixture, test::Params, test::RunSession, test::Options;

// The selection of a paper's-rule chunkllm policy (k `topk`) after prefilling `prompt`, read
// after one more decoded token `next` (the first decode step selects before it runs); empty when
// `next` closed a chunk and selected again. *sigma: the last completed chunk's last token.
std::vector<std::vector<int>> SelectionAfter(const Fixture& f, std::shared_ptr<const AdapterRuntime> a,
                                             const std::vector<int32_t>& prompt, int32_t next, int* sigma = nullptr,
                                             int topk = 2) {
  ChunkLlmPolicy policy(*f.model, std::move(a), Options("chunkllm", topk));
  Session s(*f.model, Params(), &policy);
  s.Prefill(prompt);
  const int C = policy.n_chunks();
  if (sigma) *sigma = C ? policy.chunk_end(C - 1) - 1 : -1;
  s.Decode(next);
  return policy.n_chunks() == C ? policy.selected() : std::vector<std::vector<int>>{};
}

TEST(ChunkPolicy, SelectionFollowsTheLearnedDistanceBias) {
  const Fixture f = MakeFixture();
  // Content scores all 0; the distance bias favours the chunk 5 back from the query's own
  // chunk (bucket 4) in every layer.
  auto biased = std::make_shared<const AdapterRuntime>(BiasOnlyAdapters(f, 4, 10.0f));
  ASSERT_EQ(DistanceBias(biased->adapters(), 0, 5), 10.0f);
  ASSERT_EQ(DistanceBias(biased->adapters(), 0, 6), 0.0f);
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
    AttentionOptions o = Options(method, 1);
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

// --local-tokens: besides the `local` latest chunks, more of the latest are kept until they hold
// the given tokens: in every layer exactly the fewest latest chunks that do (or all), never
// candidates of the vote, beside the k chosen ones.
TEST(ChunkPolicy, LocalTokensKeepTheLatestChunksUntilTheyHoldTheTokens) {
  const Fixture f = MakeFixture();
  const int local_tokens = 60;
  AttentionOptions o = Options("chunkllm", 1);
  o.local_tokens = local_tokens;
  ChunkLlmPolicy policy(*f.model, f.adapters, o);
  int checked = 0, widened = 0;
  RunSession(f, &policy, Params(), [&](int) {
    const int C = policy.n_chunks();
    ASSERT_GT(C, 2);
    const int open_begin = policy.chunk_end(C - 1);
    int n = 2;
    while (n < C && open_begin - policy.chunk_begin(C - n) < local_tokens) ++n;
    for (int l = 0; l < f.model->config().n_layer; ++l) {
      std::vector<int> chosen, local;
      for (int c : policy.selected()[size_t(l)]) (c < C - n ? chosen : local).push_back(c);
      std::sort(local.begin(), local.end());
      std::vector<int> expected;
      for (int c = C - n; c < C; ++c) expected.push_back(c);
      ASSERT_EQ(local, expected) << "layer " << l << " at " << C << " chunks";
      ASSERT_EQ(chosen.size(), std::min<size_t>(1, size_t(C - n))) << "layer " << l;
    }
    widened += n > 2;
    ++checked;
  });
  EXPECT_GT(checked, 30);
  EXPECT_GT(widened, 0) << "two chunks always held the tokens; the knob was never exercised";
}

// Adapters trained with the served query target select after a prompt with the query of the
// open chunk's selection token sigma (here, delay 0 and chunks of max_chunk tokens: the last
// completed chunk's last token): the same selection as each-token-query adapters whose prompt ends at sigma, which
// have the same chunks and select with sigma's own query. The same adapters with the token
// target, on the whole prompt, must choose differently at least once (the knob is read).
TEST(ChunkPolicy, ServedQueryTargetSelectsWithTheOpenChunksSelectionQuery) {
  const Fixture f = MakeFixture();
  // Chunks end only at max_chunk (24) tokens, so prompts end inside open chunks.
  AdapterSet token_set = AdaptersWithMaxLengthChunks(f);
  ASSERT_EQ(token_set.hp.chunk_hidden, 0);
  ASSERT_EQ(token_set.hp.boundary_delay, 0);
  AdapterSet served_set = token_set;
  served_set.hp.query_target = "served";
  auto token = std::make_shared<const AdapterRuntime>(std::move(token_set));
  auto served = std::make_shared<const AdapterRuntime>(std::move(served_set));
  int compared = 0, differs_from_token = 0;
  for (int cut = 120; cut < 400; cut += 23) {
    const std::vector<int32_t> prompt(f.prompt.begin(), f.prompt.begin() + cut);
    int sigma = -1;
    const auto with_served = SelectionAfter(f, served, prompt, f.prompt[size_t(cut)], &sigma);
    if (with_served.empty() || sigma < 0 || sigma == cut - 1) continue;  // no open tokens after sigma
    const std::vector<int32_t> to_sigma(f.prompt.begin(), f.prompt.begin() + sigma + 1);
    const auto at_sigma = SelectionAfter(f, token, to_sigma, f.prompt[size_t(sigma + 1)]);
    ASSERT_FALSE(at_sigma.empty()) << "token " << sigma + 1 << " closed a chunk only without the rest of the prompt";
    EXPECT_EQ(with_served, at_sigma) << "prompt of " << cut << " tokens, sigma " << sigma;
    if (SelectionAfter(f, token, prompt, f.prompt[size_t(cut)]) != with_served) ++differs_from_token;
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
  auto a = std::make_shared<const AdapterRuntime>(AdaptersWithMaxLengthChunks(f));
  const int r = a->rank();
  for (const char* method : {"chunkllm", "oracle"}) {
    SCOPED_TRACE(method);
    AttentionOptions o = Options(method, 3);
    o.select_query = SelectQuery::kRecent;
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
            scores[l][i] = float(d / double(n_q) / std::sqrt(double(r))) + DistanceBias(a->adapters(), int(l), C - cand[i]);
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

// The query-dependent distance term at inference: with E_l[bucket(3)] = 1000 v and
// E_l[bucket(5)] = -1000 v, the candidates 3 and 5 chunks back from the open chunk score
// +-1000 (q . v) / sqrt(r) apart from the rest: whatever the query, each layer (novote: its own
// top 4 of 14) selects exactly one of the two. Without the term the same prompt does not give
// that in every layer (the term is what decides it). Chunks end at max_chunk (24 tokens): 16
// complete ones after the 400-token prompt.
TEST(ChunkPolicy, QueryDistanceScoreSelectsOneOfTwoOpposedDistances) {
  const Fixture f = MakeFixture();
  auto layers_with_exactly_one = [&](bool on) {
    AdapterSet set = AdaptersWithMaxLengthChunks(f);
    const int B = 8, r = set.hp.rank;
    set.hp.distance_buckets = B, set.hp.query_distance = on;
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> v(static_cast<size_t>(r));
    for (float& x : v) x = normal(rng);
    for (LayerAdapters& l : set.layers) {
      l.distance_bias.assign(size_t(B), 0.0f);
      l.distance_query.assign(on ? size_t(B * r) : 0u, 0.0f);
      for (int e = 0; on && e < r; ++e) {
        l.distance_query[size_t(2 * r + e)] = 1000.0f * v[size_t(e)];   // bucket 2: distance 3
        l.distance_query[size_t(4 * r + e)] = -1000.0f * v[size_t(e)];  // bucket 4: distance 5
      }
    }
    ChunkLlmPolicy policy(*f.model, std::make_shared<const AdapterRuntime>(std::move(set)), Options("novote", 4));
    Session s(*f.model, Params(), &policy);
    s.Prefill(f.prompt);
    s.Decode(f.continuation[0]);  // selects before the step, with the prompt's last query
    const int C = policy.n_chunks();
    EXPECT_EQ(C, 16);
    int layers = 0;
    for (const std::vector<int>& chunks : policy.selected()) {
      const bool near = std::find(chunks.begin(), chunks.end(), C - 3) != chunks.end();
      const bool far = std::find(chunks.begin(), chunks.end(), C - 5) != chunks.end();
      layers += near != far;
    }
    return layers;
  };
  EXPECT_EQ(layers_with_exactly_one(true), 3);
  EXPECT_LT(layers_with_exactly_one(false), 3) << "without the term the two chunks are not opposed";
}

// The query position's terms at inference: the query-dependent log features and rotated
// features. The selection made with the prompt's last query (position cut - 1) is the top-k of
// R(cut - 1) q . k / sqrt(r) + the biases + LogFeatureScore(the chunk's length, cut - 1 - its
// last token), recomputed here from the policy's keys (rotated by the graph: checked against
// training in ChunkKeysAreTheTrainingPathsKeys) and its query, rotated here in double, over
// prompts whose chunks have several lengths (the Chunk Adapter's bias at -1). The weights are
// large enough to reorder candidates: without the terms some selection differs.
void ExpectSelectionFromTheQuerysPosition(bool log_features, int rope_dims) {
  const Fixture f = MakeFixture();
  AdapterSet set = f.adapters->adapters();
  set.chunk.b1[0] = -1.0f;
  AdapterSet plain = set;
  const int r = set.hp.rank;
  const float base = 50.0f;
  set.hp.query_features = log_features, set.hp.rope_dims = rope_dims, set.hp.rope_base = base;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (LayerAdapters& l : set.layers) {
    if (!log_features) break;
    l.feature_query.resize(size_t(2 * r));
    for (float& x : l.feature_query) x = 3.0f * normal(rng);
    l.distance_weight = {2.0f * normal(rng)};
  }
  auto a = std::make_shared<const AdapterRuntime>(std::move(set));
  auto without = std::make_shared<const AdapterRuntime>(std::move(plain));
  std::set<int> lengths;
  int compared = 0, differs_without = 0;
  for (int cut = 100; cut < 400; cut += 13) {
    const std::vector<int32_t> prompt(f.prompt.begin(), f.prompt.begin() + cut);
    ChunkLlmPolicy policy(*f.model, a, Options("chunkllm", 3));
    Session s(*f.model, Params(), &policy);
    s.Prefill(prompt);
    const int C = policy.n_chunks();
    s.Decode(f.prompt[size_t(cut)]);
    if (policy.n_chunks() != C || C < 6) continue;  // that token closed a chunk and selected again
    std::vector<int> cand, tokens;
    for (int c = 0; c < C - 2; ++c) cand.push_back(c), tokens.push_back(policy.chunk_end(c) - policy.chunk_begin(c));
    lengths.insert(tokens.begin(), tokens.end());
    std::vector<std::vector<float>> scores(size_t(f.model->config().n_layer), std::vector<float>(cand.size()));
    for (int l = 0; l < int(scores.size()); ++l) {
      const std::vector<float>& q = policy.selection_queries(l);
      ASSERT_EQ(q.size(), size_t(r));
      std::vector<double> rq(q.begin(), q.end());  // R(cut - 1) q: pairs (2i, 2i+1) by (cut - 1) base^(-2i/dims)
      for (int e = 0; e < rope_dims; e += 2) {
        const double angle = double(cut - 1) * std::pow(double(base), -double(e) / rope_dims);
        rq[size_t(e)] = q[size_t(e)] * std::cos(angle) - q[size_t(e + 1)] * std::sin(angle);
        rq[size_t(e + 1)] = q[size_t(e)] * std::sin(angle) + q[size_t(e + 1)] * std::cos(angle);
      }
      for (size_t i = 0; i < cand.size(); ++i) {
        double d = 0;
        for (int e = 0; e < r; ++e) d += rq[size_t(e)] * policy.chunk_keys(l)[size_t(cand[i] * r + e)];
        scores[size_t(l)][i] = float(d / std::sqrt(double(r))) + DistanceBias(a->adapters(), l, C - cand[i]) +
                               QueryDistanceScore(a->adapters(), l, C - cand[i], q.data()) + LengthBias(a->adapters(), l, tokens[i]) +
                               LogFeatureScore(a->adapters(), l, tokens[i], cut - policy.chunk_end(cand[i]), q.data());
      }
    }
    const auto picked = SelectChunks(scores, tokens, SelectionBudget{3, 0}, true);
    for (size_t l = 0; l < scores.size(); ++l) {
      std::vector<int> want;
      for (int i : picked[l]) want.push_back(cand[size_t(i)]);
      want.push_back(C - 2), want.push_back(C - 1);
      EXPECT_EQ(policy.selected()[l], want) << "layer " << l << ", prompt of " << cut;
    }
    if (SelectionAfter(f, without, prompt, f.prompt[size_t(cut)], nullptr, 3) != policy.selected()) ++differs_without;
    ++compared;
  }
  EXPECT_GE(compared, 4);
  EXPECT_GE(lengths.size(), 3u);
  EXPECT_GE(differs_without, 1) << "the terms change nothing";
}

TEST(ChunkPolicy, LogFeatureScoreReadsTheChunksLengthAndTheQuerysTokenDistance) {
  ExpectSelectionFromTheQuerysPosition(true, 0);
}

TEST(ChunkPolicy, RotatedFeaturesScoreWithTheQueryRotatedByItsPosition) {
  ExpectSelectionFromTheQuerysPosition(false, 8);
  ExpectSelectionFromTheQuerysPosition(true, 16);
}

// --first-selection dense-step: the first decode step after a prompt reads every cached
// position and selects after it, with its own query: the same chunks that the paper's rule
// picks for the prompt with that token appended (its last token then selects). The step
// after it reads exactly the selected positions. Chunks end only every 24 tokens (bias -100),
// so the appended token closes no chunk at the cuts below.
TEST(ChunkPolicy, DenseStepSelectsAfterTheFirstDecodeStepWithItsQuery) {
  const Fixture f = MakeFixture();
  auto adapters = std::make_shared<const AdapterRuntime>(AdaptersWithMaxLengthChunks(f));
  const int L = f.model->config().n_layer;
  int compared = 0, differs_from_prompt_rule = 0;
  for (int cut = 130; cut < 400; cut += 37) {
    const std::vector<int32_t> prompt(f.prompt.begin(), f.prompt.begin() + cut);
    const int32_t next = f.prompt[size_t(cut)], after = f.prompt[size_t(cut + 1)];
    AttentionOptions o = Options("chunkllm", 2);
    o.first_selection = FirstSelection::kDenseStep;
    ChunkLlmPolicy step(*f.model, adapters, o);
    Session s(*f.model, Params(), &step);
    s.Prefill(prompt);
    const int C = step.n_chunks();
    s.Decode(next);
    if (step.n_chunks() != C) continue;  // `next` closed a chunk
    EXPECT_EQ(step.stats().selections, 1) << cut;
    for (int l = 0; l < L; ++l) EXPECT_TRUE(step.last_read(l).empty()) << "the first step was not dense, cut " << cut;
    // The reference: the prompt with `next` appended, selected by its last token (the paper's rule).
    std::vector<int32_t> longer = prompt;
    longer.push_back(next);
    EXPECT_EQ(step.selected(), SelectionAfter(f, adapters, longer, after)) << "cut " << cut;
    // The paper's rule on the prompt alone selects with the query before `next`.
    if (SelectionAfter(f, adapters, prompt, next) != step.selected()) ++differs_from_prompt_rule;
    // The step after the dense one reads the selection: sink, chosen and local chunks, open chunk.
    s.Decode(after);
    for (int l = 0; l < L; ++l) {
      std::vector<int> want(step.positions(l).begin(), step.positions(l).end() - 1);  // minus `after` itself
      EXPECT_EQ(step.last_read(l), want) << "layer " << l << ", cut " << cut;
      EXPECT_LT(step.last_read(l).size(), size_t(cut)) << "layer " << l << " still reads everything";
    }
    ++compared;
  }
  EXPECT_GE(compared, 4);
  EXPECT_GE(differs_from_prompt_rule, 1);
}

// --layer-topk M: every layer reads the voted set plus its own best M chunks; with one layer's
// scores made to favour one chunk alone (by a distance bias only that layer has), that layer
// reads it and the others do not.
TEST(ChunkPolicy, LayerTopkAddsEachLayersOwnBestChunks) {
  const Fixture f = MakeFixture();
  AdapterSet a = BiasOnlyAdapters(f, 2, 10.0f);  // every layer: the chunk 3 back
  a.layers[1].distance_bias[6] = 20.0f;            // layer 1 alone: the chunk 7 back first
  auto biased = std::make_shared<const AdapterRuntime>(std::move(a));
  AttentionOptions o = Options("chunkllm", 1);
  o.layer_topk = 1;
  ChunkLlmPolicy policy(*f.model, biased, o);
  int checked = 0, chunks_before = -1;
  RunSession(f, &policy, Params(), [&](int) {
    const int C = policy.n_chunks();
    if (chunks_before >= 0 && C > chunks_before && C >= 7) {
      // The vote: chunk C-3 (layers 0 and 2) over C-7 (layer 1). Local: C-2, C-1.
      EXPECT_EQ(policy.selected()[0], (std::vector<int>{C - 3, C - 2, C - 1}));
      EXPECT_EQ(policy.selected()[2], (std::vector<int>{C - 3, C - 2, C - 1}));
      EXPECT_EQ(policy.selected()[1], (std::vector<int>{C - 7, C - 3, C - 2, C - 1}));
      ++checked;
    }
    chunks_before = C;
  });
  EXPECT_GE(checked, 2);
}

// Adapters with G score groups rank candidates by log((1/G) sum_g softmax_g(q_g . k_g /
// sqrt(r/G))) over the candidates (adapter_set.h), recomputed here in double from the policy's
// query and chunk keys after each prompt (the paper's rule: the prompt's last query selects
// before the next step). The same weights read as one group must choose differently at least
// once (the knob is read): with logits of order 1 or less the mixture ranks nearly as the
// summed logits do, so the queries are scaled up 8x. Chunks of 24 tokens, so that the decoded
// token rarely closes one.
TEST(ChunkPolicy, ScoreGroupsRankByTheMeanOfTheGroupsSoftmaxes) {
  const Fixture f = MakeFixture();
  AdapterSet set = AdaptersWithMaxLengthChunks(f);
  for (LayerAdapters& l : set.layers)
    for (float& w : l.q_w2) w *= 8.0f;
  const int r = set.hp.rank, G = 4, rg = r / G;
  set.hp.score_groups = G;
  auto grouped = std::make_shared<const AdapterRuntime>(set);
  set.hp.score_groups = 1;
  auto single = std::make_shared<const AdapterRuntime>(std::move(set));
  int compared = 0, differs_from_single = 0;
  for (int cut = 150; cut < 400; cut += 23) {
    const std::vector<int32_t> prompt(f.prompt.begin(), f.prompt.begin() + cut);
    ChunkLlmPolicy policy(*f.model, grouped, Options("chunkllm", 3));
    Session s(*f.model, Params(), &policy);
    s.Prefill(prompt);
    const int C = policy.n_chunks();
    s.Decode(f.prompt[size_t(cut)]);
    if (policy.n_chunks() != C || C < 6) continue;  // that token closed a chunk and selected again
    std::vector<int> tokens(size_t(C - 2));
    std::vector<std::vector<float>> scores(size_t(f.model->config().n_layer), std::vector<float>(size_t(C - 2)));
    for (size_t l = 0; l < scores.size(); ++l) {
      const std::vector<float>& q = policy.selection_queries(int(l));
      const std::vector<float>& k = policy.chunk_keys(int(l));
      std::vector<double> p(size_t(C - 2), 0.0);
      for (int g = 0; g < G; ++g) {
        std::vector<double> e(size_t(C - 2));
        double z = 0;
        for (int c = 0; c < C - 2; ++c) {
          double d = 0;
          for (int j = g * rg; j < (g + 1) * rg; ++j) d += double(q[size_t(j)]) * k[size_t(c * r + j)];
          z += e[size_t(c)] = std::exp(d / std::sqrt(double(rg)));
        }
        for (int c = 0; c < C - 2; ++c) p[size_t(c)] += e[size_t(c)] / z / G;
      }
      for (int c = 0; c < C - 2; ++c) scores[l][size_t(c)] = float(std::log(p[size_t(c)]));
    }
    const auto picked = SelectChunks(scores, tokens, SelectionBudget{3, 0}, true);
    for (size_t l = 0; l < scores.size(); ++l) {
      std::vector<int> want = picked[l];
      want.push_back(C - 2), want.push_back(C - 1);
      EXPECT_EQ(policy.selected()[l], want) << "layer " << l << ", prompt of " << cut;
    }
    ChunkLlmPolicy one(*f.model, single, Options("chunkllm", 3));
    Session s1(*f.model, Params(), &one);
    s1.Prefill(prompt);
    s1.Decode(f.prompt[size_t(cut)]);
    if (one.selected() != policy.selected()) ++differs_from_single;
    ++compared;
  }
  EXPECT_GE(compared, 4);
  EXPECT_GE(differs_from_single, 1) << "the score groups change nothing";
}

// A served-target adapter file selects with one query: recent is refused, as is an unknown value.
TEST(ChunkPolicy, RefusesAnUnknownOrIncompatibleSelectQuery) {
  const Fixture f = MakeFixture();
  AttentionOptions o = Options("chunkllm", 3);
  EXPECT_THROW(ParseSelectQuery("first"), Error);
  AdapterSet served = f.adapters->adapters();
  served.hp.query_target = "served";
  o.select_query = SelectQuery::kRecent;
  try {
    PolicySpec spec(*f.model, o, std::make_shared<const AdapterRuntime>(std::move(served)));
    FAIL() << "recent accepted for served-target adapters";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("served"), std::string::npos) << e.what();
  }
}

TEST(ChunkPolicy, RefusesBadFirstSelectionAndLayerTopk) {
  const Fixture f = MakeFixture();
  auto refused = [&](AttentionOptions o, const std::string& words) {
    try {
      PolicySpec spec(*f.model, o, f.adapters);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
      return;
    }
    ADD_FAILURE() << "accepted, expected an error with '" << words << "'";
  };
  EXPECT_THROW(ParseFirstSelection("first"), Error);
  AttentionOptions o = Options("chunkllm", 3);
  o.layer_topk = -2;
  refused(o, "--layer-topk");
  o = Options("chunkllm", 3);
  o.layer_topk = 1, o.kv = KvMode::kEvict;
  refused(o, "--kv evict");
}

}  // namespace
}  // namespace chunkllm
