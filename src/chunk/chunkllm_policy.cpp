#include "chunk/chunkllm_policy.h"

#include <algorithm>
#include <cmath>

#include "chunk/selection.h"
#include "core/error.h"
#include "ggml-cpu.h"
#include "model/model.h"

namespace chunkllm {

ChunkLlmPolicy::ChunkLlmPolicy(const Model& model, std::shared_ptr<const AdapterRuntime> adapters,
                               const ChunkPolicyOptions& o)
    : GatheredPolicy(model.config(), o.evict), model_(model), adapters_(std::move(adapters)), options_(o) {
  const std::string& m = o.method;
  if (m != "chunkllm" && m != "chunk-fixed" && m != "novote" && m != "noicac" && m != "oracle") {
    Fail("unknown ChunkLLM variant '", m, "'");
  }
  if (!adapters_) Fail("--attn ", m, " needs --adapters FILE");
  vote_ = m != "novote", icac_ = m != "noicac", oracle_ = m == "oracle", fixed_ = m == "chunk-fixed";
  if (o.evict && !vote_) Fail("--kv evict needs the layer vote (one shared set); --attn novote cannot evict");
  if (o.evict && oracle_) Fail("--attn oracle scores every cached position; it cannot run with --kv evict");
  if (fixed_ && o.chunk_len <= 0) Fail("--chunk-len must be positive, got ", o.chunk_len);
  mean_key_ = adapters_->adapters().hp.chunk_key == "mean";
  // The oracle reads the true attention of the latest token, and noicac selects at every token
  // with its own query: the served target (adapter_set.h) changes only ICAC's adapter queries.
  served_query_ = !oracle_ && icac_ && adapters_->adapters().hp.query_target == "served";
  if (o.select_query != "last" && o.select_query != "recent") {
    Fail("--select-query must be last or recent, got '", o.select_query, "'");
  }
  recent_query_ = o.select_query == "recent";
  if (o.first_selection != "prompt" && o.first_selection != "dense-step") {
    Fail("--first-selection must be prompt or dense-step, got '", o.first_selection, "'");
  }
  dense_step_ = o.first_selection == "dense-step";
  if (o.layer_topk < 0) Fail("--layer-topk must be >= 0, got ", o.layer_topk);
  if (o.layer_topk > 0 && o.evict) {
    Fail("--kv evict keeps one shared set of chunks; it cannot run with --layer-topk (each layer its own chunks)");
  }
  if (recent_query_ && served_query_) {
    Fail("--select-query recent: these adapters were trained for the served query target (one query per "
         "selection); use --select-query last");
  }
  r_ = adapters_->rank();
  query_width_ = oracle_ ? model.config().n_head * model.config().head_dim : r_;
  delay_ = adapters_->adapters().hp.boundary_delay;
  if (delay_ < 0 || delay_ > kMaxBoundaryDelay) Fail("adapters with a boundary delay of ", delay_, " are not supported");
  const AdapterHyperParams& hp = adapters_->adapters().hp;
  parts_width_ = hp.boundary_inputs * adapters_->tensors().boundary_block_rows();
  boundary_parts_.assign(size_t(hp.boundary_inputs) * size_t(parts_width_), 0.0f);
  graph_weights_ = adapters_->tensors().weights();
  if (fixed_) graph_weights_.boundary_w1 = nullptr;  // fixed-length chunks: no Chunk Adapter
  keys_.resize(size_t(n_layer()));
  if (mean_key_) open_key_sum_.assign(size_t(n_layer()) * size_t(r_), 0.0f);
  query_.resize(size_t(n_layer()));
  row_.resize(size_t(std::max(model.config().n_embd, model.config().n_head * model.config().head_dim)));
}

GraphTaps ChunkLlmPolicy::taps() const {
  GraphTaps t;
  t.adapters = &graph_weights_;  // K-Adapter features and the Chunk Adapter's first layer
  t.attn_in = !oracle_;          // Q-Adapter queries
  t.q_rope = oracle_;
  return t;
}

void ChunkLlmPolicy::ReadBatch(const ForwardGraph& g, int n) {
  const size_t r = size_t(r_);
  batch_rows_ = n;
  batch_keys_.resize(size_t(n_layer()) * size_t(n) * r);
  for (int l = 0; l < n_layer(); ++l) {
    ggml_backend_tensor_get(g.key_features[size_t(l)], batch_keys_.data() + size_t(l) * size_t(n) * r, 0,
                            sizeof(float) * size_t(n) * r);
  }
  if (!fixed_) {
    batch_parts_.resize(size_t(n) * size_t(parts_width_));
    ggml_backend_tensor_get(g.boundary_parts, batch_parts_.data(), 0, sizeof(float) * batch_parts_.size());
  }
}

const float* ChunkLlmPolicy::BatchKey(int l, int row) const {
  return batch_keys_.data() + (size_t(l) * size_t(batch_rows_) + size_t(row)) * size_t(r_);
}

void ChunkLlmPolicy::RowKeys(int row, std::vector<float>& out) const {
  const size_t r = size_t(r_);
  out.resize(size_t(n_layer()) * r);
  for (int l = 0; l < n_layer(); ++l) std::copy(BatchKey(l, row), BatchKey(l, row) + r, out.data() + size_t(l) * r);
}

void ChunkLlmPolicy::PushBoundaryParts(int row) {
  const size_t w = size_t(parts_width_), size = boundary_parts_.size();
  std::copy(boundary_parts_.begin() + long(w), boundary_parts_.end(), boundary_parts_.begin());
  const float* src = batch_parts_.data() + size_t(row) * w;
  std::copy(src, src + w, boundary_parts_.data() + (size - w));
}

bool ChunkLlmPolicy::ClassifierEnds() const {
  return adapters_->BoundaryProbabilityFromParts(boundary_parts_.data()) > adapters_->adapters().hp.alpha;
}

void ChunkLlmPolicy::AddChunk(int end, const std::vector<float>& key_features) {
  chunk_end_.push_back(end);
  evicted_.push_back(0);
  const size_t r = size_t(r_);
  for (int l = 0; l < n_layer(); ++l) {
    std::vector<float>& k = keys_[size_t(l)];
    k.resize(k.size() + r);
    float* key = k.data() + k.size() - r;
    if (mean_key_) {
      const float* sum = open_key_sum_.data() + size_t(l) * r;
      for (size_t e = 0; e < r; ++e) key[e] = sum[e] / float(open_key_count_);
    } else {
      const float* f = key_features.data() + size_t(l) * r;
      std::copy(f, f + r, key);
    }
  }
  if (mean_key_) std::fill(open_key_sum_.begin(), open_key_sum_.end(), 0.0f), open_key_count_ = 0;
}

void ChunkLlmPolicy::AccumulateKey(int row) {
  const size_t r = size_t(r_);
  for (int l = 0; l < n_layer(); ++l) {
    const float* f = BatchKey(l, row);
    float* sum = open_key_sum_.data() + size_t(l) * r;
    for (size_t e = 0; e < r; ++e) sum[e] += f[e];
  }
  ++open_key_count_;
}

// Token pos (row `row` of the batch) may close up to two chunks: with a boundary delay, the
// Chunk Adapter, on the h_1 window ending at pos, says whether the token before it ended one;
// then the chunk that pos itself is in ends at pos when it is max_chunk (or, chunk-fixed,
// chunk_len) long or, with no delay, when the Chunk Adapter says so on the window ending at pos.
// Returns whether one closed.
bool ChunkLlmPolicy::CloseChunks(int row, int pos) {
  bool closed = false;
  if (!fixed_) PushBoundaryParts(row);
  auto open_begin = [&] { return chunk_end_.empty() ? 0 : chunk_end_.back(); };
  if (!fixed_ && delay_ == 1 && pos - 1 >= open_begin() && ClassifierEnds()) {
    // The boundary key is the K-Adapter output at the boundary token pos - 1: in this batch's
    // graph or, for a batch's first token, the row kept from the previous batch. (Mean keys:
    // the sums hold the chunk's tokens up to pos - 1.)
    if (row > 0 && !mean_key_) RowKeys(row - 1, prev_keys_);
    AddChunk(pos, prev_keys_);
    closed = true;
  }
  if (mean_key_) AccumulateKey(row);  // pos joins the open chunk
  const int open_len = pos + 1 - open_begin();
  const bool ends = fixed_ ? open_len >= options_.chunk_len
                           : open_len >= adapters_->adapters().hp.max_chunk || (delay_ == 0 && ClassifierEnds());
  if (ends) {
    if (!mean_key_) RowKeys(row, cur_keys_);
    AddChunk(pos + 1, cur_keys_);
    closed = true;
  }
  return closed;
}

void ChunkLlmPolicy::ReadQuery(const ForwardGraph& g, int row, int l, float* out) {
  const size_t W = size_t(query_width_), D = size_t(model_.config().n_embd);
  if (oracle_) {
    ggml_backend_tensor_get(g.q_rope[size_t(l)], out, sizeof(float) * W * size_t(row), sizeof(float) * W);
  } else {
    ggml_backend_tensor_get(g.attn_in[size_t(l)], row_.data(), sizeof(float) * D * size_t(row), sizeof(float) * D);
    adapters_->Query(l, row_.data(), out);
  }
}

void ChunkLlmPolicy::RememberQuery(const ForwardGraph& g, int row, int pos) {
  query_pos_ = pos;
  for (int l = 0; l < n_layer(); ++l) {
    query_[size_t(l)].resize(size_t(query_width_));
    ReadQuery(g, row, l, query_[size_t(l)].data());
  }
}

// query_[l] holds one row per position of recent_pos_: rows older than the latest completed
// chunk's start leave from the front, the batch's new ones join at the back.
void ChunkLlmPolicy::RememberRecentQueries(const ForwardGraph& g, int pos0, int n) {
  const size_t W = size_t(query_width_);
  const int from = n_chunks() > 0 ? chunk_begin(n_chunks() - 1) : 0;
  size_t drop = 0;
  while (drop < recent_pos_.size() && recent_pos_[drop] < from) ++drop;
  recent_pos_.erase(recent_pos_.begin(), recent_pos_.begin() + long(drop));
  for (auto& q : query_) q.erase(q.begin(), q.begin() + long(drop * W));
  for (int pos = std::max(from, pos0); pos < pos0 + n; ++pos) {
    recent_pos_.push_back(pos);
    query_pos_ = pos;
    for (int l = 0; l < n_layer(); ++l) {
      std::vector<float>& q = query_[size_t(l)];
      q.resize(q.size() + W);
      ReadQuery(g, pos - pos0, l, q.data() + q.size() - W);
    }
  }
}

void ChunkLlmPolicy::OnBeginBatch(int, int n, const int32_t*) {
  if (n == 1 && select_before_decode_) {
    select_before_decode_ = false;
    Select();
  }
}

void ChunkLlmPolicy::OnEndBatch(const ForwardGraph& g, int pos0, int n) {
  ReadBatch(g, n);
  int last_closing = -1;  // the batch's latest row at which a chunk closed
  for (int i = 0; i < n; ++i)
    if (CloseChunks(i, pos0 + i)) last_closing = i;
  const bool boundary = last_closing == n - 1;
  // dense-step: the first decode step after a prompt read the whole cache; its query selects.
  const bool first_step = n == 1 && select_after_step_;
  // The next batch's first token may close a chunk at this one, keyed by its features (boundary
  // keys; mean keys already hold it in the sums).
  if (delay_ > 0 && !mean_key_) RowKeys(n - 1, prev_keys_);
  // The query is read only by a selection: after a prefill, at a boundary, or (noicac) always.
  // With the served query target a prefill keeps the query of its latest closing row, the
  // selection token of the open chunk (earlier micro-batches' if this one has none).
  if (recent_query_) {
    RememberRecentQueries(g, pos0, n);
  } else if (n > 1 && served_query_) {
    if (last_closing >= 0) RememberQuery(g, last_closing, pos0 + last_closing);
  } else if (n > 1 || boundary || !icac_ || first_step) {
    RememberQuery(g, n - 1, pos0 + n - 1);
  }
  if (n > 1) {
    ArmFirstSelection();
    prompt_end_ = {pos0 + n,   chunk_end_.size(), query_,        query_pos_,     recent_pos_,
                   prev_keys_, boundary_parts_,   open_key_sum_, open_key_count_};
  } else if (boundary || !icac_ || first_step) {
    select_after_step_ = false;
    Select();
  }
}

void ChunkLlmPolicy::OnTruncate(int n) {
  if (n == 0) {
    chunk_end_.clear(), evicted_.clear(), selected_.clear();
    for (auto& k : keys_) k.clear();
    select_before_decode_ = select_after_step_ = false;
    prompt_end_ = {};
    recent_pos_.clear();
    query_pos_ = -1;
    for (auto& q : query_) q.clear();
    prev_keys_.clear();
    std::fill(boundary_parts_.begin(), boundary_parts_.end(), 0.0f);
    std::fill(open_key_sum_.begin(), open_key_sum_.end(), 0.0f), open_key_count_ = 0;
    return;
  }
  if (!CanTruncate(n)) {
    Fail(name(), ": can go back to the end of the prompt (", prompt_end_.n_past, ") or to 0, not to ", n);
  }
  chunk_end_.resize(prompt_end_.n_chunks);
  evicted_.assign(chunk_end_.size(), 0);
  for (auto& k : keys_) k.resize(prompt_end_.n_chunks * size_t(r_));
  query_ = prompt_end_.query;
  query_pos_ = prompt_end_.query_pos;
  recent_pos_ = prompt_end_.recent_pos;
  prev_keys_ = prompt_end_.prev_keys;
  boundary_parts_ = prompt_end_.boundary_parts;
  open_key_sum_ = prompt_end_.open_key_sum, open_key_count_ = prompt_end_.open_key_count;
  ArmFirstSelection();
}

// A prompt ended (or the session went back to its end): the paper's rule selects before the
// next decode step with the prompt's last query; dense-step lets that step read the whole
// cache and selects after it with its query.
void ChunkLlmPolicy::ArmFirstSelection() {
  select_before_decode_ = !dense_step_;
  select_after_step_ = dense_step_;
}

// [layer][candidate] scores: the adapters' q . k / sqrt(r) + distance and length biases (+ the
// query-dependent distance score q . E[bucket] / sqrt(r) and log features, whose token
// distance counts from the latest query's position; with rope_dims each query is rotated by its
// own position, the keys by theirs in the graph), or
// with G score groups the log of the mean of the groups' softmaxes over the candidates
// (adapter_set.h); or (oracle) the chunk's share of the query's true attention, averaged over
// heads. With several queries (select_query recent), the mean of their q . k.
std::vector<std::vector<float>> ChunkLlmPolicy::Scores(const std::vector<int>& cand) const {
  std::vector<std::vector<float>> s(size_t(n_layer()), std::vector<float>(cand.size()));
  const size_t n_q = query_[0].size() / size_t(query_width_);
  if (!oracle_) {
    const int G = adapters_->adapters().hp.score_groups, rg = r_ / G;
    const float scale = n_q > 0 ? 1.0f / std::sqrt(float(rg)) / float(n_q) : 0.0f;  // (no query yet: bias only)
    // Distances count back from the open chunk, whose tokens read this selection: candidates
    // lie local + 1 or more chunks back, as they do from a token's own chunk in training.
    const int open_chunk = n_chunks();
    std::vector<float> logits(cand.size() * size_t(G));  // (G, candidates)
    std::vector<float> mean_query(static_cast<size_t>(r_));  // the queries' mean, for the distance score
    std::vector<float> rotated;  // (n_q, r) the queries rotated by their positions, for q . k
    for (int l = 0; l < n_layer(); ++l) {
      std::fill(mean_query.begin(), mean_query.end(), 0.0f);
      rotated = query_[size_t(l)];
      for (size_t iq = 0; iq < n_q; ++iq) {
        const float* q = query_[size_t(l)].data() + iq * size_t(r_);
        for (int e = 0; e < r_; ++e) mean_query[size_t(e)] += q[e] / float(n_q);
        adapters_->RotateQuery(recent_query_ ? recent_pos_[iq] : query_pos_, rotated.data() + iq * size_t(r_));
      }
      for (size_t i = 0; i < cand.size(); ++i) {
        const float* k = keys_[size_t(l)].data() + size_t(cand[i]) * r_;
        const int distance = open_chunk - cand[i];
        const int tokens = chunk_end(cand[i]) - chunk_begin(cand[i]);
        const float bias = adapters_->DistanceBias(l, distance) +
                           adapters_->QueryDistanceScore(l, distance, mean_query.data()) +
                           adapters_->LengthBias(l, tokens) +
                           adapters_->LogFeatureScore(l, tokens, query_pos_ - (chunk_end(cand[i]) - 1),
                                                      mean_query.data());
        for (int g = 0; g < G; ++g) {
          float d = 0;
          for (size_t iq = 0; iq < n_q; ++iq) {
            const float* q = rotated.data() + iq * size_t(r_);
            for (int e = g * rg; e < (g + 1) * rg; ++e) d += q[e] * k[e];
          }
          logits[size_t(g) * cand.size() + i] = d * scale + bias;
        }
      }
      // One group: the logits rank as their log-softmax does (a shift for the whole layer).
      if (G == 1) {
        std::copy(logits.begin(), logits.end(), s[size_t(l)].begin());
      } else {
        MixtureLogProbs(logits, G, s[size_t(l)]);
      }
    }
    return s;
  }
  const ModelConfig& c = model_.config();
  const int T = n_past(), H = c.n_head, Hkv = c.n_head_kv, Dh = c.head_dim;
  const KvCache& kv = *full_cache();
  const auto* traits = ggml_get_type_traits(kv.type());
  std::vector<float> keys(size_t(T) * Hkv * Dh), mass;
  std::vector<float> p(static_cast<size_t>(T));
  std::vector<int> chunk_of(size_t(T), -1);
  for (int ch = 0; ch < n_chunks(); ++ch)
    for (int j = chunk_begin(ch); j < chunk_end(ch); ++j) chunk_of[size_t(j)] = ch;
  for (int l = 0; l < n_layer(); ++l) {
    const ggml_tensor* kt = kv.k(l);
    for (int j = 0; j < T; ++j) {
      traits->to_float((const char*)kt->data + kt->nb[1] * size_t(j), keys.data() + size_t(j) * Hkv * Dh, Hkv * Dh);
    }
    mass.assign(size_t(n_chunks()), 0.0f);
    for (size_t iq = 0; iq < n_q; ++iq) {
      // A recent query at position t attends causally to [0, t]; the last token's to all T.
      const int t_end = recent_query_ ? recent_pos_[iq] + 1 : T;
      for (int h = 0; h < H; ++h) {
        const float* q = query_[size_t(l)].data() + iq * size_t(query_width_) + size_t(h) * Dh;
        const int hk = h / (H / Hkv);
        float mx = -INFINITY;
        for (int j = 0; j < t_end; ++j) {
          const float* k = keys.data() + (size_t(j) * Hkv + hk) * Dh;
          float d = 0;
          for (int e = 0; e < Dh; ++e) d += q[e] * k[e];
          p[size_t(j)] = d / std::sqrt(float(Dh));
          mx = std::max(mx, p[size_t(j)]);
        }
        double z = 0;
        for (int j = 0; j < t_end; ++j) z += (p[size_t(j)] = std::exp(p[size_t(j)] - mx));
        for (int j = 0; j < t_end; ++j)
          if (chunk_of[size_t(j)] >= 0) mass[size_t(chunk_of[size_t(j)])] += float(p[size_t(j)] / z / H / n_q);
      }
    }
    for (size_t i = 0; i < cand.size(); ++i) s[size_t(l)][i] = mass[size_t(cand[i])];
  }
  return s;
}

void ChunkLlmPolicy::Select() {
  const int C = n_chunks(), open_begin = C ? chunk_end_.back() : 0, T = n_past();
  // The latest n_local completed chunks are kept: at least `local`, and more until they hold
  // `local_tokens` (they end where the open chunk begins).
  int n_local = std::min(options_.local, C);
  const auto local_span = [&](int n) { return n ? open_begin - chunk_begin(C - n) : 0; };
  while (n_local < C && local_span(n_local) < options_.local_tokens) ++n_local;
  std::vector<int> cand, cand_tokens;
  for (int c = 0; c < C - n_local; ++c)
    if (!evicted_[size_t(c)]) cand.push_back(c), cand_tokens.push_back(chunk_end(c) - chunk_begin(c));
  const SelectionBudget budget{options_.topk, options_.budget_tokens, options_.layer_topk};
  const auto picked = SelectChunks(Scores(cand), cand_tokens, budget, vote_);
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
      for (int j = std::max(chunk_begin(c), options_.sink); j < chunk_end(c); ++j) pos.push_back(j);
    }
    for (int j = std::max(open_begin, options_.sink); j < T; ++j) pos.push_back(j);
    std::sort(pos.begin(), pos.end());
    SetPositions(l, pos);
  }
  if (options_.evict) {
    for (int c = 0; c < C; ++c)
      if (!kept[size_t(c)]) evicted_[size_t(c)] = 1;
  }
  stats_.selections += 1;
}

}  // namespace chunkllm
