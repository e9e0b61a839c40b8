#include "eval/trace.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "chunk/gathered_policy.h"
#include "chunk/policy_spec.h"
#include "eval/answer_agreement.h"
#include "eval/fidelity.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/log_softmax.h"
#include "model/session.h"
#include "tasks/task_record.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

// Dense attention that keeps each decode step's post-RoPE queries, (H * Dh) per layer, so the
// trace can form the step's attention probabilities over the whole cache.
class QueryRecorder final : public AttentionPolicy {
 public:
  QueryRecorder(int n_layer, int width) : q_(size_t(n_layer), std::vector<float>(size_t(width))) {}
  const char* name() const override { return "dense"; }
  GraphTaps taps() const override {
    GraphTaps t;
    t.q_rope = true;
    return t;
  }
  void EndBatch(const SequenceGraph& g, int, int n) override {
    if (n != 1) return;
    for (size_t l = 0; l < q_.size(); ++l) {
      ggml_backend_tensor_get(g.q_rope[l], q_[l].data(), 0, sizeof(float) * q_[l].size());
    }
  }
  const std::vector<float>& query(int layer) const { return q_[size_t(layer)]; }

 private:
  std::vector<std::vector<float>> q_;
};

// p[h][j]: dense attention probabilities of query head h of layer l over positions [0, n).
std::vector<std::vector<double>> AttentionProbabilities(const ModelConfig& c, const KvCache& kv, int l,
                                                        const std::vector<float>& q, int n) {
  const int H = c.n_head, Hkv = c.n_head_kv, Dh = c.head_dim, group = H / Hkv;
  const ggml_tensor* kt = kv.k(l);
  const auto* traits = ggml_get_type_traits(kt->type);
  std::vector<float> row(size_t(Hkv) * size_t(Dh));
  std::vector<std::vector<double>> p(size_t(H), std::vector<double>(static_cast<size_t>(n)));
  const double scale = 1.0 / std::sqrt(double(Dh));
  for (int j = 0; j < n; ++j) {
    traits->to_float((const char*)kt->data + kt->nb[1] * size_t(j), row.data(), int64_t(row.size()));
    for (int h = 0; h < H; ++h) {
      const float* k = row.data() + size_t(h / group) * size_t(Dh);
      const float* qh = q.data() + size_t(h) * size_t(Dh);
      double d = 0;
      for (int e = 0; e < Dh; ++e) d += double(qh[e]) * double(k[e]);
      p[size_t(h)][size_t(j)] = d * scale;
    }
  }
  for (auto& ph : p) {
    const double m = *std::max_element(ph.begin(), ph.end());
    double z = 0;
    for (double& v : ph) z += (v = std::exp(v - m));
    for (double& v : ph) v /= z;
  }
  return p;
}

// The token span of `value`'s first occurrence in `text` (tokenized with BOS), by tokenizing the
// text up to the value's start and end. Approximate by a token at each side where the value's
// first or last piece merges with its neighbours; [-1, -1) if the value is not in the text.
std::pair<int, int> TokenSpan(const Tokenizer& tok, const std::string& text, const std::string& value) {
  const size_t at = text.find(value);
  if (value.empty() || at == std::string::npos) return {-1, -1};
  const int begin = int(tok.Tokenize(text.substr(0, at), true).size());
  const int end = int(tok.Tokenize(text.substr(0, at + value.size()), true).size());
  return {std::max(0, begin - 1), end};
}

}  // namespace

TraceResult RunTrace(const TraceOptions& o) {
  if (o.attention.method == AttentionMethod::kDense) {
    Fail("trace compares a sparse method with dense attention; pick --attn");
  }
  const std::vector<TaskRecord> records = ReadTaskRecords(o.tasks_path);
  if (o.sample < 0 || o.sample >= int(records.size())) {
    Fail("--sample ", o.sample, " is not a record of ", o.tasks_path, " (it has ", records.size(), ")");
  }
  const TaskRecord& r = records[size_t(o.sample)];
  auto model = Model::Load(o.model_path);
  auto tok = Tokenizer::Load(o.model_path);
  const ModelConfig& c = model->config();
  const std::string text = r.context + r.question + r.answer_prefix;
  const std::vector<int32_t> prompt = tok->Tokenize(text, true);
  const int steps = o.n_predict > 0 ? o.n_predict : r.max_new_tokens;
  SessionParams sp;
  sp.n_threads = o.n_threads;
  sp.n_ctx = int(prompt.size()) + steps + 1;
  if (sp.n_ctx > c.n_ctx_train * 4) Fail("the record needs ", sp.n_ctx, " positions, far beyond the model's ", c.n_ctx_train);

  const PolicySpec spec(*model, o.attention);  // every flag checked before the long run
  TraceResult t;
  t.method = spec.name();
  t.prompt_tokens = int(prompt.size());
  std::tie(t.needle_begin, t.needle_end) = TokenSpan(*tok, r.context, r.answers.empty() ? "" : r.answers[0]);

  // Each side's own greedy continuation of `steps` tokens, for the record (eval's answers stop
  // sooner, at a newline); the trace below follows dense's continuation.
  auto free_run = [&](AttentionPolicy* policy) {
    Session s(*model, sp, policy);
    s.Prefill(prompt);
    return DecodeGreedy(s, *tok, steps, 0, StopAt::kEndOfGeneration).tokens;
  };
  const std::vector<int32_t> dense_tokens = free_run(nullptr);
  t.method_text = tok->Detokenize(free_run(spec.NewPolicy().get()));
  t.dense_text = tok->Detokenize(dense_tokens);

  // Teacher forcing: both sessions decode dense's tokens.
  QueryRecorder recorder(c.n_layer, c.n_head * c.head_dim);
  Session dense(*model, sp, &recorder);
  std::unique_ptr<AttentionPolicy> policy = spec.NewPolicy();
  const auto* gathered = dynamic_cast<const GatheredPolicy*>(policy.get());
  if (!gathered) Fail("--attn ", spec.name(), " does not gather positions; trace needs a sparse method");
  Session method(*model, sp, policy.get());
  dense.Prefill(prompt);
  method.Prefill(prompt);
  // The token at a position: the prompt's, then dense's continuation.
  auto token_at = [&](int pos) {
    return pos < int(prompt.size()) ? prompt[size_t(pos)] : dense_tokens[size_t(pos) - prompt.size()];
  };
  std::vector<char> read;
  std::vector<double> dense_logp, method_logp;
  for (int32_t token : dense_tokens) {
    TraceStep st;
    st.pos = dense.n_past();
    st.token = token;
    const std::vector<float> dl = dense.Decode(token);
    const std::vector<float>& ml = method.Decode(token);
    st.dense_next = ArgMax(dl), st.method_next = ArgMax(ml);
    st.pieces = {tok->TokenToPiece(token), tok->TokenToPiece(st.dense_next), tok->TokenToPiece(st.method_next)};
    LogSoftmax(dl, dense_logp), LogSoftmax(ml, method_logp);
    st.kl = KlOfLogProbs(dense_logp, method_logp);
    const int n = st.pos + 1;  // positions cached, the step's own included
    st.method_dense = true;
    for (int l = 0; l < c.n_layer; ++l) {
      const std::vector<int>& positions = gathered->last_read(l);
      TraceLayer tl;
      read.assign(size_t(n), positions.empty() ? 1 : 0);
      for (int j : positions) read[size_t(j)] = 1;
      read[size_t(st.pos)] = 1;
      st.method_dense &= positions.empty();
      const auto p = AttentionProbabilities(c, dense.kv_cache(), l, recorder.query(l), n);
      tl.read = double(std::count(read.begin(), read.end(), 1)) / double(n);
      tl.mass = 0, tl.worst_head = 1;
      for (size_t h = 0; h < p.size(); ++h) {
        const std::vector<double>& ph = p[h];
        double m = 0, needle = 0;
        for (int j = 0; j < n; ++j) m += read[size_t(j)] ? ph[size_t(j)] : 0.0;
        for (int j = std::max(0, t.needle_begin); j < std::min(n, t.needle_end); ++j) needle += ph[size_t(j)];
        tl.mass += m / double(p.size());
        if (m < tl.worst_head) tl.worst_head = m, tl.worst = int(h);
        tl.needle_mass += needle / double(p.size());
        tl.needle_peak = std::max(tl.needle_peak, needle);
      }
      if (tl.worst >= 0 && tl.worst_head < 1.0) {
        std::vector<std::pair<int, double>> unread;
        for (int j = 0; j < n; ++j)
          if (!read[size_t(j)]) unread.push_back({j, p[size_t(tl.worst)][size_t(j)]});
        const size_t k = std::min<size_t>(3, unread.size());
        std::partial_sort(unread.begin(), unread.begin() + long(k), unread.end(),
                          [](const auto& a, const auto& b) { return a.second > b.second; });
        for (size_t i = 0; i < k; ++i) {
          tl.lost.push_back({unread[i].first, unread[i].second, tok->TokenToPiece(token_at(unread[i].first))});
        }
      }
      if (t.needle_end > t.needle_begin) {
        int got = 0;
        for (int j = t.needle_begin; j < t.needle_end; ++j) got += read[size_t(j)];
        tl.needle_read = double(got) / double(t.needle_end - t.needle_begin);
      }
      st.layers.push_back(tl);
    }
    t.steps.push_back(std::move(st));
  }
  if (!o.json_path.empty()) {
    nlohmann::json j = {{"method", t.method},           {"prompt_tokens", t.prompt_tokens},
                        {"needle", {t.needle_begin, t.needle_end}}, {"dense_text", t.dense_text},
                        {"method_text", t.method_text}, {"record", ToJson(r)}};
    for (const TraceStep& s : t.steps) {
      nlohmann::json layers = nlohmann::json::array();
      for (const TraceLayer& l : s.layers) {
        nlohmann::json lost = nlohmann::json::array();
        for (const TraceLayer::Unread& u : l.lost) lost.push_back({{"pos", u.pos}, {"p", u.p}, {"piece", u.piece}});
        layers.push_back({{"read", l.read}, {"mass", l.mass}, {"worst_head", l.worst_head}, {"worst", l.worst},
                          {"needle_mass", l.needle_mass}, {"needle_peak", l.needle_peak}, {"needle_read", l.needle_read},
                          {"lost", lost}});
      }
      j["steps"].push_back({{"pos", s.pos}, {"token", s.pieces[0]}, {"dense_next", s.pieces[1]},
                            {"method_next", s.pieces[2]}, {"kl", s.kl},
                            {"method_dense", s.method_dense}, {"layers", layers}});
    }
    WriteTextFile(o.json_path, j.dump(1) + "\n");
  }
  return t;
}

void PrintTrace(const TraceResult& t, FILE* out) {
  std::fprintf(out, "%s against dense: %d prompt tokens, needle at tokens [%d, %d)\n", t.method.c_str(), t.prompt_tokens,
               t.needle_begin, t.needle_end);
  std::fprintf(out, "dense answers:  %s\n%s answers: %s\n", t.dense_text.c_str(), t.method.c_str(), t.method_text.c_str());
  std::fprintf(out,
               "\nper step (fed dense's tokens): KL of the next token; per layer: mass = dense attention mass on what "
               "the layer read (mean over heads / worst head), needle = dense mass on the needle (mean / peak head) "
               "and the share of it read\n");
  for (const TraceStep& s : t.steps) {
    std::fprintf(out, "pos %d  fed '%s'  next: dense '%s', %s '%s'%s  KL %.2e%s\n", s.pos, s.pieces[0].c_str(),
                 s.pieces[1].c_str(), t.method.c_str(), s.pieces[2].c_str(),
                 s.dense_next == s.method_next ? "" : "  DIFFERENT", s.kl,
                 s.method_dense ? "  (the method read everything)" : "");
    for (size_t l = 0; l < s.layers.size(); ++l) {
      const TraceLayer& L = s.layers[l];
      std::string lost;
      for (const TraceLayer::Unread& u : L.lost) {
        lost += (lost.empty() ? "" : ", ") + std::to_string(u.pos) + " '" + u.piece + "' " +
                std::to_string(int(100 * u.p + 0.5)) + "%";
      }
      std::fprintf(out, "   L%-2zu read %5.1f%%  mass %5.3f / %5.3f  needle %5.3f / %5.3f, read %3.0f%%%s%s\n", l,
                   100.0 * L.read, L.mass, L.worst_head, L.needle_mass, L.needle_peak, 100.0 * L.needle_read,
                   lost.empty() ? "" : "  head " , lost.empty() ? "" : (std::to_string(L.worst) + " missed " + lost).c_str());
    }
  }
}

}  // namespace chunkllm
