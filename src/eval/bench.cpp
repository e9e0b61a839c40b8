#include "eval/bench.h"

#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/progress.h"
#include "core/read_bandwidth.h"
#include "chunk/policy_spec.h"
#include "core/timer.h"
#include "eval/llama_reference.h"
#include "model/session.h"
#include "model/session_batch.h"
#include "text/text_windows.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

// The two engines behind one small interface so each test is written once.
struct Engine {
  virtual ~Engine() = default;
  virtual const char* name() const = 0;
  virtual void Prefill(const std::vector<int32_t>& tokens) = 0;
  virtual void Decode(int32_t token) = 0;
  // Back to the first `depth` tokens (`prefix`) before a timed run.
  virtual void Rewind(int depth, const std::vector<int32_t>& prefix) = 0;
  virtual std::string method() const { return "dense"; }
  virtual std::string prefill() const { return "dense"; }
  virtual void ResetStats() {}
  // The share of the causal KV positions read: by the prompt's micro-batches (prefill) or by
  // the decode steps.
  virtual double attended_fraction(bool /*prefill*/) const { return 1.0; }
  virtual std::string kernel() const { return ""; }
  // Mean K/V positions read per decode step since ResetStats (-1: not known; dense assumed).
  virtual double attended_per_step() const { return -1; }
  virtual double policy_read_bytes_per_step() const { return 0; }
  virtual MemoryPeak memory() const { return {}; }
  // Sequences decoded together (bench -np): a tg step appends a token to each, in one batch.
  virtual int parallel() const { return 1; }
};

struct OurEngine final : Engine {
  std::unique_ptr<AttentionPolicy> policy;
  Session session;
  MemoryPeak peak;
  // -np P > 1: P - 1 more sequences with their own policies, decoded with `session` as one batch
  // (model/session_batch.h); every sequence gets the same tokens.
  std::vector<std::unique_ptr<AttentionPolicy>> more_policies;
  std::vector<std::unique_ptr<Session>> more;
  std::unique_ptr<SessionBatch> batch;
  std::vector<Session*> all;
  OurEngine(const Model& m, const SessionParams& p, const PolicySpec& spec, int parallel)
      : policy(spec.NewPolicy()), session(m, p, policy.get()), kernel_(p.attn_kernel),
        prefill_(Name(spec.options().prefill_mode())) {
    all.push_back(&session);
    // The batch and the other sequences share the first session's thread pool, as serve's slots do.
    SessionParams shared = p;
    shared.threadpool = session.threadpool();
    for (int i = 1; i < parallel; ++i) {
      more_policies.push_back(spec.NewPolicy());
      more.push_back(std::make_unique<Session>(m, shared, more_policies.back().get()));
      all.push_back(more.back().get());
    }
    if (parallel > 1) batch = std::make_unique<SessionBatch>(m, p.n_threads, p.attn_kernel, shared.threadpool);
  }
  const char* name() const override { return "chunkllm"; }
  std::string method() const override { return policy->name(); }
  std::string prefill() const override { return prefill_; }
  int parallel() const override { return int(all.size()); }
  void ResetStats() override {
    policy->ResetStats(), peak = {};
    for (auto& q : more_policies) q->ResetStats();
  }
  // The figures of the first sequence (the others read the same tokens).
  double attended_fraction(bool prefill) const override {
    return prefill ? policy->stats().prefill_attended_fraction() : policy->stats().attended_fraction();
  }
  std::string kernel() const override { return AttentionKernelName(kernel_); }
  double attended_per_step() const override { return policy->stats().attended_per_step(); }
  double policy_read_bytes_per_step() const override { return policy->stats().policy_read_bytes_per_step(); }
  AttentionKernel kernel_;
  std::string prefill_;
  MemoryPeak memory() const override { return peak; }
  void Prefill(const std::vector<int32_t>& t) override {
    for (Session* s : all) s->Prefill(t);
  }
  void Decode(int32_t t) override {
    if (batch) {
      const auto failures = batch->Decode(all, std::vector<int32_t>(all.size(), t));
      if (!failures.empty()) Fail("sequence ", failures[0].index, " of a batch: ", failures[0].message);
    } else {
      session.Decode(t);
    }
    // What this engine holds after the step (its first sequence): KV rows in use (full cache
    // while resident, plus every layer's gathered rows) and the buffers allocated for them and
    // for the graph.
    const KvCache& full = session.kv_cache();
    const KvCache* g = policy->gathered_cache();
    const int L = session.model().config().n_layer;
    size_t rows = full.released() ? 0 : size_t(full.n_past()) * size_t(L);
    if (g) for (int l = 0; l < L; ++l) rows += size_t(policy->gathered_rows(l));
    const double mib = 1024.0 * 1024.0;
    peak.kv_used_mib = std::max(peak.kv_used_mib, double(rows * full.bytes_per_row()) / mib);
    const size_t graph = batch ? batch->compute_bytes() : session.compute_bytes();  // the graph that decodes
    peak.held_mib = std::max(peak.held_mib, double(full.bytes() + (g ? g->bytes() : 0) + graph) / mib);
  }
  void Rewind(int depth, const std::vector<int32_t>& prefix) override {
    for (size_t i = 0; i < all.size(); ++i) {
      Session& s = *all[i];
      AttentionPolicy& q = i == 0 ? *policy : *more_policies[i - 1];
      if (!s.kv_cache().released() && q.CanTruncate(depth)) {
        s.Truncate(depth);
        continue;
      }
      // Evicted, or a chunk index kept only at the end of the latest prompt (after a timed
      // prefill, that is past `depth`): start again from the prefix.
      s.Clear();
      if (depth > 0) s.Prefill(prefix);
    }
  }
};

struct RefEngine final : Engine {
  std::unique_ptr<LlamaReference> ref;
  RefEngine(const std::string& path, const ReferenceParams& p) : ref(LlamaReference::Load(path, p)) {}
  const char* name() const override { return "llama.cpp"; }
  void Prefill(const std::vector<int32_t>& t) override { ref->Prefill(t); }
  void Decode(int32_t t) override { ref->Decode(t); }
  void Rewind(int depth, const std::vector<int32_t>&) override { ref->Truncate(depth); }
};

// The process's peak resident set (VmHWM of /proc/self/status), 0 where there is none.
double PeakRssMib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double kib = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "VmHWM: %lf kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib / 1024.0;
}

void MeanSd(const std::vector<double>& x, double& mean, double& sd) {
  mean = 0;
  for (double v : x) mean += v;
  mean /= double(x.size());
  double ss = 0;
  for (double v : x) ss += (v - mean) * (v - mean);
  sd = x.size() > 1 ? std::sqrt(ss / double(x.size() - 1)) : 0.0;
}

// What one decode step reads besides the K/V cache: every weight, except that the token
// embedding gives one row (unless it is also the output matrix).
double DecodeWeightBytes(const Model& m) {
  const ggml_tensor* e = m.weights().tok_embd;
  if (m.tied_output()) return double(m.weight_bytes());
  return double(m.weight_bytes()) - double(ggml_nbytes(e)) + double(e->nb[1]);
}

struct StepCost {
  double weight_bytes = 0;
  double kv_bytes_per_position = 0;  // K and V of one position in every layer
  double bandwidth = 0;              // bytes/s
};

// One (test, size, depth) measurement on every engine: each engine first fills its cache to
// `depth` and does a warm-up run, then the timed runs alternate between engines (A B A B ...)
// so that drift in the machine's speed affects them alike. Every run starts from `depth`. A
// pp warm-up prefills at most one micro-batch (`pp_warmup` tokens): that builds the graphs and
// wakes the threads, and a whole 32K prompt's warm-up would double a run of many minutes.
std::vector<BenchRow> Measure(const std::vector<Engine*>& engines, const std::string& test, int n,
                              int depth, int reps, const std::vector<int32_t>& tokens, const StepCost& cost,
                              int pp_warmup) {
  const std::vector<int32_t> prefix(tokens.begin(), tokens.begin() + depth);
  const std::vector<int32_t> batch(tokens.begin() + depth, tokens.begin() + depth + n);
  auto run_once = [&](Engine& e, int count) {
    e.Rewind(depth, prefix);
    const double t0 = NowSeconds();
    if (test == "pp") {
      e.Prefill(count == n ? batch : std::vector<int32_t>(batch.begin(), batch.begin() + count));
    } else {
      for (int i = 0; i < count; ++i) e.Decode(batch[size_t(i)]);
    }
    return double(count) * e.parallel() / (NowSeconds() - t0);
  };
  std::vector<BenchRow> rows(engines.size());
  for (size_t k = 0; k < engines.size(); ++k) {
    Engine& e = *engines[k];
    rows[k].test = test;
    rows[k].depth = depth;
    rows[k].engine = e.name();
    rows[k].kernel = e.kernel();
    (test == "pp" ? rows[k].n_prompt : rows[k].n_gen) = n;
    rows[k].method = e.method();
    rows[k].prefill = e.prefill();
    rows[k].parallel = e.parallel();
    e.Rewind(0, {});
    if (depth > 0) e.Prefill(prefix);
    run_once(e, test == "pp" ? std::min(n, pp_warmup) : n);  // warm-up
    e.ResetStats();
  }
  for (int r = 0; r < reps; ++r) {
    for (size_t k = 0; k < engines.size(); ++k) rows[k].samples.push_back(run_once(*engines[k], n));
  }
  for (size_t k = 0; k < engines.size(); ++k) {
    MeanSd(rows[k].samples, rows[k].tokens_per_s, rows[k].tokens_per_s_sd);
    rows[k].attended_fraction = engines[k]->attended_fraction(test == "pp");
    rows[k].memory = engines[k]->memory();
    if (test == "tg") {
      const double known = engines[k]->attended_per_step();
      const double attended = known >= 0 ? known : depth + (n + 1) / 2.0;  // dense: d+1 .. d+n
      // One step of P sequences reads the weights once and each sequence's K/V.
      const int P = engines[k]->parallel();
      rows[k].step_bytes = cost.weight_bytes + P * (attended * cost.kv_bytes_per_position +
                                                    engines[k]->policy_read_bytes_per_step());
      rows[k].over_floor = P * cost.bandwidth / (rows[k].tokens_per_s * rows[k].step_bytes);
    }
  }
  return rows;
}

}  // namespace

BenchReport RunBench(const BenchParams& p) {
  if (p.repetitions <= 0) Fail("-r must be positive, got ", p.repetitions);
  if (p.n_threads <= 0) Fail("-t must be positive, got ", p.n_threads);
  for (int d : p.depths) if (d < 0) Fail("-d values must be >= 0, got ", d);
  for (int n : p.n_prompt) if (n < 0) Fail("-p values must be >= 0, got ", n);
  for (int n : p.n_gen) if (n < 0) Fail("-n values must be >= 0, got ", n);

  auto model = Model::Load(p.model_path);
  const ModelConfig& c = model->config();
  BenchReport report;
  report.params = p;
  report.model_bytes = model->weight_bytes();
  report.n_params = model->n_params();
  report.model_desc = Str(c.arch_name, " ", std::llround(double(model->n_params()) / 1e6), "M ",
                          model->weight_type_name());

  // The floor's bandwidth first, on a machine not yet busy with engines.
  report.read_bytes_per_s = MeasureReadBandwidth(p.n_threads);
  StepCost cost;
  cost.weight_bytes = DecodeWeightBytes(*model);
  cost.kv_bytes_per_position = 2.0 * double(ggml_row_size(p.kv_type, c.n_embd_kv())) * c.n_layer;
  cost.bandwidth = report.read_bytes_per_s;

  int max_len = 0;
  for (int d : p.depths)
    for (int n : p.n_prompt) max_len = std::max(max_len, d + n);
  for (int d : p.depths)
    for (int n : p.n_gen) max_len = std::max(max_len, d + n);
  // Random token ids (as llama-bench uses) or held-out text; the same for every engine.
  std::vector<int32_t> tokens(static_cast<size_t>(max_len));
  if (p.text_dir.empty()) {
    std::mt19937 rng(1234);
    for (auto& t : tokens) t = int32_t(rng() % uint32_t(c.n_vocab));
  } else {
    auto tok = Tokenizer::Load(p.model_path);
    tokens = TextWindows(*tok, p.text_dir, max_len, 1)[0];
    tokens.resize(size_t(max_len));
  }

  SessionParams sp;
  sp.n_ctx = std::max(max_len, 16);
  sp.n_ubatch = p.n_ubatch;
  sp.n_threads = p.n_threads;
  sp.kv_type = p.kv_type;
  std::vector<std::unique_ptr<Engine>> engines;
  if (p.methods.empty()) Fail("--attn needs at least one method");
  CheckKernelList(p.kernels);
  const std::vector<PolicySpec> specs = MakePolicySpecs(*model, p.attention, p.methods, p.prefills);
  if (p.parallel.empty()) Fail("-np needs at least one count");
  for (int np : p.parallel) if (np <= 0 || np > 64) Fail("-np values must be in [1, 64], got ", np);
  for (int np : p.parallel)
    for (AttentionKernel kernel : p.kernels) {
      sp.attn_kernel = kernel;
      for (const PolicySpec& spec : specs) engines.push_back(std::make_unique<OurEngine>(*model, sp, spec, np));
    }
  if (p.with_reference) {
    ReferenceParams rp;
    rp.n_ctx = sp.n_ctx;
    rp.n_ubatch = p.n_ubatch;
    rp.n_batch = std::max(2048, p.n_ubatch);
    rp.n_threads = p.n_threads;
    rp.kv_type = p.kv_type;
    engines.push_back(std::make_unique<RefEngine>(p.model_path, rp));
  }

  // Every engine runs every test. Each method's policy does its own work per prompt token
  // (ChunkLLM's Chunk Adapter, its K-Adapter, and with --prefill sparse its Q-Adapter and the
  // gathering), which pp measures against dense; pp of a whole prompt (-d 0) is the time to the
  // first token.
  std::vector<Engine*> all;
  for (auto& e : engines) all.push_back(e.get());
  struct Test { std::string name; int n; };
  std::vector<Test> tests;
  for (int n : p.n_prompt) if (n > 0) tests.push_back({"pp", n});
  for (int n : p.n_gen) if (n > 0) tests.push_back({"tg", n});
  const int64_t total = int64_t(tests.size() * p.depths.size());
  ProgressBar bar(total, "bench", p.show_progress);
  int64_t done = 0;
  for (int depth : p.depths) {
    for (const Test& t : tests) {
      bar.Update(done, Str(t.name, t.n, " @ d", depth));
      // Prompts are prefilled one sequence at a time: pp runs on the one-sequence engines only.
      std::vector<Engine*> engines_here;
      for (Engine* e : all) if (t.name == "tg" || e->parallel() == 1) engines_here.push_back(e);
      for (BenchRow& row : Measure(engines_here, t.name, t.n, depth, p.repetitions, tokens, cost, p.n_ubatch)) {
        report.rows.push_back(std::move(row));
      }
      ++done;
    }
  }
  bar.Update(done);
  report.peak_rss_mib = PeakRssMib();
  return report;
}

namespace {

// Our rows pair with our rows on the same kernel; llama.cpp's row has none.
const BenchRow* FindRow(const BenchReport& r, const BenchRow& row, const char* engine, const char* method) {
  for (const auto& o : r.rows) {
    if (o.engine == engine && (!method || (o.method == method && o.prefill == "dense")) &&
        (o.engine != "chunkllm" || o.kernel == row.kernel) &&
        o.test == row.test && o.n_prompt == row.n_prompt &&
        o.n_gen == row.n_gen && o.depth == row.depth && o.parallel == (o.engine == "chunkllm" ? row.parallel : 1)) {
      return &o;
    }
  }
  return nullptr;
}

// Ratios of one of our rows: to llama.cpp (same test) and to our dense attention (same test).
double RatioTo(const BenchReport& r, const BenchRow& row, const char* engine, const char* method) {
  if (row.engine != "chunkllm") return NAN;
  const BenchRow* o = FindRow(r, row, engine, method);
  return o && o != &row ? row.tokens_per_s / o->tokens_per_s : NAN;
}

}  // namespace

std::string FormatBenchMarkdown(const BenchReport& r) {
  std::string s = Str("model: ", r.model_desc, ", ", r.params.n_threads, " threads, KV ",
                      ggml_type_name(r.params.kv_type), ", context ",
                      r.params.text_dir.empty() ? std::string("random tokens") : Str("text of ", r.params.text_dir),
                      ", process peak RSS ", std::llround(r.peak_rss_mib),
                      " MiB (all engines), read bandwidth ", std::round(r.read_bytes_per_s / 1e8) / 10, " GB/s (",
                      r.params.n_threads, " threads, measured in this run)\n\n");
  s += "| test | engine | kernel | attention | prefill | t/s | TTFT s | vs dense | vs llama.cpp | attended | step MB | x floor | KV used MiB | held MiB |\n";
  s += "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  auto ratio = [](double x) { return std::isnan(x) ? std::string() : Str(std::round(x * 1000) / 1000); };
  for (const auto& row : r.rows) {
    const std::string test = row.test == "pp" ? Str("pp", row.n_prompt)
                                              : row.parallel > 1 ? Str("tg", row.n_gen, " x", row.parallel) : Str("tg", row.n_gen);
    const std::string name = row.depth > 0 ? Str(test, " @ d", row.depth) : test;
    const bool ours = row.engine == "chunkllm";
    const bool tg = ours && row.test == "tg";  // memory is sampled after decode steps
    char line[640];
    const bool floor = row.test == "tg" && row.step_bytes > 0;
    // A whole prompt's prefill from an empty cache is the wait for the first token.
    const bool ttft = row.test == "pp" && row.depth == 0;
    std::snprintf(line, sizeof line, "| %s | %s | %s | %s | %s | %.2f ± %.2f | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                  name.c_str(), row.engine.c_str(), row.kernel.c_str(), ours ? row.method.c_str() : "dense",
                  ours ? row.prefill.c_str() : "dense", row.tokens_per_s, row.tokens_per_s_sd,
                  ttft ? Str(std::round(row.n_prompt / row.tokens_per_s * 100) / 100).c_str() : "",
                  ratio(RatioTo(r, row, "chunkllm", "dense")).c_str(), ratio(RatioTo(r, row, "llama.cpp", nullptr)).c_str(),
                  ours ? Str(std::round(row.attended_fraction * 1000) / 10, "%").c_str() : "",
                  floor ? Str(std::round(row.step_bytes / 1e5) / 10).c_str() : "",
                  floor ? Str(std::round(row.over_floor * 100) / 100).c_str() : "",
                  tg ? Str(std::round(row.memory.kv_used_mib * 10) / 10).c_str() : "",
                  tg ? Str(std::round(row.memory.held_mib * 10) / 10).c_str() : "");
    s += line;
  }
  return s;
}

std::string FormatBenchJson(const BenchReport& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : r.rows) {
    nlohmann::json j = {{"model", r.model_desc},
                        {"model_path", r.params.model_path},
                        {"n_threads", r.params.n_threads},
                        {"process_peak_rss_mib", r.peak_rss_mib},
                        {"context", r.params.text_dir.empty() ? std::string("random") : r.params.text_dir},
                        {"kv_type", ggml_type_name(r.params.kv_type)},
                        {"test", row.test},
                        {"n_prompt", row.n_prompt},
                        {"n_gen", row.n_gen},
                        {"depth", row.depth},
                        {"engine", row.engine},
                        {"method", row.engine == "chunkllm" ? row.method : "dense"},
                        {"prefill", row.engine == "chunkllm" ? row.prefill : "dense"},
                        {"parallel", row.parallel},
                        {"tokens_per_s", row.tokens_per_s},
                        {"tokens_per_s_sd", row.tokens_per_s_sd},
                        {"samples", row.samples},
                        {"read_bytes_per_s", r.read_bytes_per_s}};
    if (row.test == "tg") j["step_bytes"] = row.step_bytes, j["over_floor"] = row.over_floor;
    if (row.test == "pp" && row.depth == 0) j["time_to_first_token_s"] = row.n_prompt / row.tokens_per_s;
    if (row.engine == "chunkllm") {
      j["kernel"] = row.kernel;
      j["attended_fraction"] = row.attended_fraction;
      if (row.test == "tg") {
        j["peak_kv_used_mib"] = row.memory.kv_used_mib;
        j["peak_held_mib"] = row.memory.held_mib;
      }
      const double to_ref = RatioTo(r, row, "llama.cpp", nullptr), to_dense = RatioTo(r, row, "chunkllm", "dense");
      if (!std::isnan(to_ref)) j["ratio_to_llama_cpp"] = to_ref;
      if (!std::isnan(to_dense)) j["ratio_to_dense"] = to_dense;
      if (row.parallel > 1) {
        for (const auto& o : r.rows) {
          if (o.engine == row.engine && o.kernel == row.kernel && o.method == row.method && o.prefill == row.prefill &&
              o.test == row.test && o.n_gen == row.n_gen && o.depth == row.depth && o.parallel == 1) {
            j["ratio_to_one_sequence"] = row.tokens_per_s / o.tokens_per_s;
          }
        }
      }
    }
    rows.push_back(j);
  }
  return rows.dump(2) + "\n";
}

}  // namespace chunkllm
