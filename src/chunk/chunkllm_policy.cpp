#include "chunk/chunkllm_policy.h"

#include <algorithm>

#include "chunk/adapter_graph.h"
#include "chunk/adapter_scorer.h"
#include "chunk/oracle_scorer.h"
#include "chunk/selection.h"
#include "chunk/sparse_prefill.h"
#include "core/error.h"
#include "model/model.h"

namespace chunkllm {
namespace {

std::unique_ptr<ChunkScorer> MakeScorer(const Model& model, const std::shared_ptr<const AdapterRuntime>& adapters,
                                        AttentionMethod method) {
  if (method == AttentionMethod::kOracle) return std::make_unique<OracleScorer>(model.config());
  return std::make_unique<AdapterScorer>(adapters, model.config().n_embd);
}

}  // namespace

ChunkLlmPolicy::ChunkLlmPolicy(const Model& model, std::shared_ptr<const AdapterRuntime> adapters,
                               const AttentionOptions& o)
    : GatheredPolicy(model.config(), o.evict()),
      adapters_(std::move(adapters)),
      options_(o),
      vote_(o.selection_mode() == ChunkSelection::kShared),
      icac_(o.method != AttentionMethod::kNoIcac),
      fixed_(o.method == AttentionMethod::kChunkFixed),
      // The oracle reads the true attention of the latest token, and noicac selects at every
      // token with its own query: the served target (adapter_set.h) changes only ICAC's
      // adapter queries.
      served_query_(o.method != AttentionMethod::kOracle && icac_ && adapters_->hp().query_target == "served"),
      dense_step_(o.first_selection == FirstSelection::kDenseStep),
      layer_topk_(o.layer_topk_or_default()),
      scorer_(MakeScorer(model, adapters_, o.method)),
      index_(adapters_, fixed_ ? o.chunk_len : 0),
      queries_(model.config().n_layer, scorer_->query_width(), o.select_query == SelectQuery::kRecent),
      prefill_positions_(size_t(model.config().n_layer)) {
  if (!IsChunkMethod(o.method)) Fail("ChunkLlmPolicy: '", Name(o.method), "' is not a ChunkLLM method");
}

GraphTaps ChunkLlmPolicy::taps() const {
  GraphTaps t = scorer_->taps();  // the queries
  t.hook_layer1 = !fixed_;        // the Chunk Adapter reads every token's h_1
  return t;
}

std::unique_ptr<PolicyGraph> ChunkLlmPolicy::NewGraph() {
  PrefillGatherer* gatherer = options_.prefill_mode() == PrefillMode::kSparse ? this : nullptr;
  return std::make_unique<AdapterGraph>(*adapters_, /*boundary=*/!fixed_, gatherer);
}

namespace {

PrefillKnobs Knobs(const AttentionOptions& o) { return PrefillKnobs{o.sink, o.prefill_budget, o.prefill_window}; }

}  // namespace

SparsePrefillBatch ChunkLlmPolicy::PrefillBatch(int pos0, int T, int prompt_end) {
  if (options_.prefill_mode() != PrefillMode::kSparse || T < 2) return {};
  if (pos0 + T > prompt_end - options_.prefill_dense_tail) return {};  // the question: dense
  const int max_chunk = fixed_ ? options_.chunk_len : adapters_->hp().max_chunk;
  // The batch reads at most its causal past.
  const int rows = GGML_PAD(std::min(PrefillRowsBound(Knobs(options_), max_chunk, T), pos0 + T), kKvPad);
  if (rows >= GGML_PAD(pos0 + T, kKvPad) && !prefill_everywhere_) return {};  // no fewer rows than dense
  prefill_pos0_ = pos0;
  return SparseBatch(rows);
}

void ChunkLlmPolicy::GatherLayer(int l, const float* features, const float* rotated, int T, int n_kv,
                                 ggml_fp16_t* mask) {
  const int r = adapters_->rank(), pos0 = prefill_pos0_;
  // The batch's queries (T, r) in groups of consecutive tokens: each group's mean, the sum of its
  // rotated ones (chunk_score.h) and its mean position.
  std::vector<PrefillQuery> groups;
  for (const auto& [first, end] : PrefillQueryGroups(T, options_.prefill_query_groups)) {
    const size_t at = size_t(first) * size_t(r);
    groups.push_back({SumQueries(r, end - first, features + at, rotated + at), pos0 + first + (end - first - 1) / 2});
  }
  std::vector<int>& pos = prefill_positions_[size_t(l)];
  pos = PrefillPositions(adapters_->adapters(), index_, l, groups, pos0, T, Knobs(options_));
  GatherPrefillRows(l, pos, pos0, T);
  PrefillMask(pos, pos0, T, n_kv, mask);
}

void ChunkLlmPolicy::OnBeginBatch(int, int n, const int32_t*) {
  if (n == 1 && select_before_decode_) {
    select_before_decode_ = false;
    Select();
  }
}

void ChunkLlmPolicy::OnEndBatch(const SequenceGraph& g, int pos0, int n) {
  static_cast<const AdapterGraph&>(*g.policy).Read(n, batch_keys_, batch_parts_);
  const int last_closing = index_.AddBatch(batch_keys_, batch_parts_, pos0, n);
  const bool boundary = last_closing == n - 1;
  // dense-step: the first decode step after a prompt read the whole cache; its query selects.
  const bool first_step = n == 1 && select_after_step_;
  // The query is read only by a selection: after a prefill, at a boundary, or (noicac) always.
  // With the served query target a prefill keeps the query of its latest closing row, the
  // selection token of the open chunk (earlier micro-batches' if this one has none).
  if (queries_.recent()) {
    const int C = index_.n_chunks();
    queries_.RememberRecent(*scorer_, g, pos0, n, C > 0 ? index_.chunk_begin(C - 1) : 0);
  } else if (n > 1 && served_query_) {
    if (last_closing >= 0) queries_.Remember(*scorer_, g, last_closing, pos0 + last_closing);
  } else if (n > 1 || boundary || !icac_ || first_step) {
    queries_.Remember(*scorer_, g, n - 1, pos0 + n - 1);
  }
  if (n > 1) {
    ArmFirstSelection();
    index_.MarkPromptEnd(pos0 + n);
    queries_.MarkPromptEnd();
  } else if (boundary || !icac_ || first_step) {
    select_after_step_ = false;
    Select();
  }
}

void ChunkLlmPolicy::OnTruncate(int n) {
  if (n == 0) {
    index_.Clear();
    queries_.Clear();
    evicted_.clear(), selected_.clear();
    select_before_decode_ = select_after_step_ = false;
    return;
  }
  if (!CanTruncate(n)) {
    Fail(name(), ": can go back to the end of the prompt (", index_.prompt_end(), ") or to 0, not to ", n);
  }
  index_.RestorePromptEnd();
  queries_.RestorePromptEnd();
  evicted_.assign(size_t(index_.n_chunks()), 0);
  ArmFirstSelection();
}

// A prompt ended (or the session went back to its end): the paper's rule selects before the
// next decode step with the prompt's last query; dense-step lets that step read the whole
// cache and selects after it with its query.
void ChunkLlmPolicy::ArmFirstSelection() {
  select_before_decode_ = !dense_step_;
  select_after_step_ = dense_step_;
}

void ChunkLlmPolicy::Select() {
  const ChunkIndex& ix = index_;
  const int C = ix.n_chunks(), open_begin = ix.open_begin(), T = n_past();
  evicted_.resize(size_t(C), 0);  // chunks closed since the last selection
  // The latest n_local completed chunks are kept: at least `local`, and more until they hold
  // `local_tokens` (they end where the open chunk begins).
  int n_local = std::min(options_.local, C);
  const auto local_span = [&](int n) { return n ? open_begin - ix.chunk_begin(C - n) : 0; };
  while (n_local < C && local_span(n_local) < options_.local_tokens) ++n_local;
  std::vector<int> cand, cand_tokens;
  for (int c = 0; c < C - n_local; ++c)
    if (!evicted_[size_t(c)]) cand.push_back(c), cand_tokens.push_back(ix.chunk_end(c) - ix.chunk_begin(c));
  const SelectionBudget budget{options_.topk, options_.budget_tokens, layer_topk_};
  const ScoringInputs inputs{ix, queries_, full_cache(), T};
  const auto picked = SelectChunks(scorer_->Scores(inputs, cand), cand_tokens, budget, vote_);
  for (int l = 0; l < n_layer(); ++l)  // each layer scores its candidates' keys, (C, r) floats
    if (C > 0) stats_.policy_read_bytes += double(ix.keys(l).size()) / C * double(cand.size()) * sizeof(float);
  selected_.assign(size_t(n_layer()), {});
  std::vector<uint8_t> kept(size_t(C), 0);
  for (int l = 0; l < n_layer(); ++l) {
    std::vector<int>& chunks = selected_[size_t(l)];
    for (int i : picked[size_t(l)]) chunks.push_back(cand[size_t(i)]);
    for (int c = C - n_local; c < C; ++c) chunks.push_back(c);
    std::vector<int> pos;
    for (int j = 0; j < std::min(options_.sink, T); ++j) pos.push_back(j);
    for (int c : chunks) {
      kept[size_t(c)] = 1;
      for (int j = std::max(ix.chunk_begin(c), options_.sink); j < ix.chunk_end(c); ++j) pos.push_back(j);
    }
    for (int j = std::max(open_begin, options_.sink); j < T; ++j) pos.push_back(j);
    std::sort(pos.begin(), pos.end());
    SetPositions(l, pos);
  }
  if (options_.evict()) {
    for (int c = 0; c < C; ++c)
      if (!kept[size_t(c)]) evicted_[size_t(c)] = 1;
  }
  stats_.selections += 1;
}

}  // namespace chunkllm
