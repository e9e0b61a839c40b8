#include "eval/eval_report.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "core/file_util.h"
#include "core/svg_plot.h"

namespace chunkllm {

nlohmann::json ToJson(const SampleResult& r) {
  nlohmann::json j = {{"method", r.method}, {"task", r.task}, {"length", r.length}, {"depth", r.depth}, {"seed", r.seed},
          {"prediction", r.prediction}, {"answers", r.answers}, {"score", r.score},
          {"prompt_tokens", r.prompt_tokens}, {"decode_tokens_per_s", r.decode_tokens_per_s},
          {"attended_fraction", r.attended_fraction}, {"resident_fraction", r.resident_fraction},
          {"prefill_attended_fraction", r.prefill_attended_fraction},
          {"selections_per_token", r.selections_per_token}};
  if (r.agreement) {
    j["agreement"] = {{"same_answer", r.agreement->same_answer}, {"answer_steps", r.agreement->steps},
                      {"answer_kl", r.agreement->kl}, {"answer_top1", r.agreement->top1}};
  }
  return j;
}

namespace {

struct Mean {
  double sum = 0;
  int n = 0;
  void Add(double v) { sum += v, ++n; }
  double get() const { return n ? sum / n : NAN; }
};

std::string Pct(double v) {
  char b[16];
  std::snprintf(b, sizeof b, "%.1f", 100 * v);
  return b;
}

// Per method and window length: mean KL, top-1 agreement, perplexity (exp of the mean NLL over
// all scored tokens) and its ratio to dense's; a table in md and a KL-against-attended plot.
nlohmann::json FidelitySection(const std::string& dir, const std::vector<FidelityResult>& rows,
                               const std::vector<std::string>& methods, std::string& md) {
  std::set<int> lengths;
  std::map<std::pair<std::string, int>, Mean> kl, top1, nll, attended;
  for (const FidelityResult& r : rows) {
    lengths.insert(r.length);
    kl[{r.method, r.length}].Add(r.kl), top1[{r.method, r.length}].Add(r.top1);
    nll[{r.method, r.length}].Add(r.nll), attended[{r.method, r.length}].Add(r.attended_fraction);
  }
  // Vanilla's perplexity is dense's own (dense against itself is vanilla); NaN without dense.
  nlohmann::json out = nlohmann::json::array();
  md += "\nFidelity to vanilla attention (teacher-forced decode of held-out text; KL(vanilla || method) "
        "in nats per token):\n\n| method | window | KL | top-1 agreement % | perplexity | vs dense | attended % |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  LinePlot plot;
  plot.title = "KL to vanilla against attended KV fraction";
  plot.x_label = "attended fraction of the KV cache";
  plot.y_label = "KL(vanilla || method), nats/token";
  plot.lines = false, plot.markers = true;
  plot.x_min = 0.0, plot.x_max = 1.0;  // a fraction; KL keeps the data's range
  for (const std::string& m : methods) {
    PlotSeries series{m};
    for (int L : lengths) {
      auto it = kl.find({m, L});
      if (it == kl.end()) continue;
      const double ppl = std::exp(nll[{m, L}].get());
      const auto v = nll.find({"dense", L});
      const double ratio = v == nll.end() ? NAN : ppl / std::exp(v->second.get());
      out.push_back({{"method", m}, {"length", L}, {"kl", it->second.get()}, {"top1_agreement", top1[{m, L}].get()},
                     {"perplexity", ppl}, {"perplexity_vs_dense", ratio},
                     {"attended_fraction", attended[{m, L}].get()}});
      char line[256];
      std::snprintf(line, sizeof line, "| %s | %d | %.4f | %s | %.2f | %.4f | %s |\n", m.c_str(), L, it->second.get(),
                    Pct(top1[{m, L}].get()).c_str(), ppl, ratio, Pct(attended[{m, L}].get()).c_str());
      md += line;
      series.x.push_back(attended[{m, L}].get()), series.y.push_back(it->second.get());
    }
    plot.series.push_back(series);
  }
  WriteSvg(dir + "/kl-vs-attended.svg", plot.ToSvg());
  return out;
}

// The adapters' held-out metrics (an AdapterValidation as JSON): a per-layer table in md with
// the k-most-recent reference beside the adapters, boundary quality, and adapter-recall.svg.
nlohmann::json AdapterSection(const std::string& dir, const nlohmann::json& a, std::string& md) {
  const int k = a.value("topk", 0);
  const auto& recall = a.at("recall");
  const auto& mass = a.at("mass");
  const auto& rrecall = a.at("recency_recall");
  const auto& rmass = a.at("recency_mass");
  const auto& tmass = a.at("teacher_mass");
  auto num = [](const nlohmann::json& v) { return v.is_null() ? NAN : v.get<double>(); };
  char line[512];  // the table header is ~250 characters
  std::snprintf(line, sizeof line,
                "\nChunkLLM adapters on held-out text (%d windows of %d tokens; candidates and teacher as in "
                "training):\n\n| layer | top-%d recall %% | mass in top %d %% | %d most recent: recall %% | mass %% | "
                "teacher's own top %d: mass %% |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
                a.value("windows", 0), a.value("seq", 0), k, k, k, k);
  md += line;
  LinePlot plot;
  plot.title = "Top-" + std::to_string(k) + " recall of the teacher's chunks per layer (held-out)";
  plot.x_label = "layer";
  plot.y_label = "recall (%)";
  plot.markers = true;
  plot.y_min = 0.0, plot.y_max = 1.0, plot.y_percent = true;  // a rate: the whole 0-100%
  PlotSeries adapters{"adapters"}, recent{std::to_string(k) + " most recent chunks"};
  for (size_t l = 0; l < recall.size(); ++l) {
    std::snprintf(line, sizeof line, "| %zu | %s | %s | %s | %s | %s |\n", l, Pct(num(recall[l])).c_str(),
                  Pct(num(mass[l])).c_str(), Pct(num(rrecall[l])).c_str(), Pct(num(rmass[l])).c_str(),
                  Pct(num(tmass[l])).c_str());
    md += line;
    adapters.x.push_back(double(l)), adapters.y.push_back(num(recall[l]));
    recent.x.push_back(double(l)), recent.y.push_back(num(rrecall[l]));
  }
  std::snprintf(line, sizeof line, "| mean | %s | %s | %s | %s | %s |\n\nBoundaries (alpha threshold): precision %s %%, "
                "recall %s %%, F1 %s %%\n",
                Pct(num(a.at("mean_recall"))).c_str(), Pct(num(a.at("mean_mass"))).c_str(),
                Pct(num(a.at("mean_recency_recall"))).c_str(), Pct(num(a.at("mean_recency_mass"))).c_str(),
                Pct(num(a.at("mean_teacher_mass"))).c_str(), Pct(num(a.at("precision"))).c_str(),
                Pct(num(a.at("recall_boundary"))).c_str(), Pct(num(a.at("f1"))).c_str());
  md += line;
  plot.series = {adapters, recent};
  WriteSvg(dir + "/adapter-recall.svg", plot.ToSvg());
  return a;
}

// Agreement with dense attention's answers, per method, task and length (methods measured against
// dense only): the share of samples whose answer is dense's, and KL and top-1 teacher-forced on
// dense's answer steps (means over samples of the per-sample means).
nlohmann::json AgreementSection(const std::vector<SampleResult>& results, const std::vector<std::string>& methods,
                                std::string& md) {
  using Key = std::tuple<std::string, std::string, int>;  // method, task, length ("" task: all)
  struct Means {
    Mean same, kl, top1;
  };
  std::map<Key, Means> by_key;
  std::set<std::pair<std::string, int>> cells;  // task, length
  for (const SampleResult& r : results) {
    if (!r.agreement) continue;
    for (const std::string& t : {r.task, std::string()}) {
      const int L = t.empty() ? 0 : r.length;
      Means& m = by_key[{r.method, t, L}];
      m.same.Add(r.agreement->same_answer ? 1 : 0), m.kl.Add(r.agreement->kl), m.top1.Add(r.agreement->top1);
    }
    cells.insert({r.task, r.length});
  }
  nlohmann::json out = nlohmann::json::array();
  if (by_key.empty()) return out;
  std::vector<std::pair<std::string, int>> rows(cells.begin(), cells.end());
  if (rows.size() > 1) rows.push_back({"", 0});  // all of a method's samples
  md += "\nAgreement with dense attention's answers (same answer: the greedy answer's text is dense's, token for "
        "token; KL(dense || method) and top-1 teacher-forced on dense's answer steps, its stop token included):\n\n"
        "| method | task | length | samples | same answer % | answer top-1 % | answer KL |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |\n";
  for (const std::string& m : methods) {
    for (const auto& [t, L] : rows) {
      auto it = by_key.find({m, t, L});
      if (it == by_key.end()) continue;
      const Means& a = it->second;
      out.push_back({{"method", m}, {"task", t.empty() ? "all" : t},
                     {"length", t.empty() ? nlohmann::json(nullptr) : nlohmann::json(L)}, {"samples", a.same.n},
                     {"same_answer", a.same.get()}, {"answer_top1", a.top1.get()}, {"answer_kl", a.kl.get()}});
      char line[256];
      std::snprintf(line, sizeof line, "| %s | %s | %s | %d | %s | %s | %.4f |\n", m.c_str(),
                    t.empty() ? "**all**" : t.c_str(), L ? std::to_string(L).c_str() : "", a.same.n,
                    Pct(a.same.get()).c_str(), Pct(a.top1.get()).c_str(), a.kl.get());
      md += line;
    }
  }
  return out;
}

}  // namespace

bool IsEvalReportFile(const std::string& name) {
  for (const char* ext : {".json", ".jsonl", ".md", ".svg"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

nlohmann::json WriteEvalReport(const std::string& dir, const std::vector<SampleResult>& results,
                               const std::vector<std::string>& methods, const std::vector<FidelityResult>& fidelity,
                               const nlohmann::json& adapter_metrics) {
  std::set<int> lengths;
  std::set<double> depths;
  std::set<std::string> tasks;
  std::map<std::string, Mean> score, attended, resident, selections, speed, prefill;  // per method
  std::map<std::tuple<std::string, std::string, int>, Mean> by_task;             // method, task, length
  std::map<std::tuple<std::string, int, double>, Mean> by_depth;                 // method, length, depth
  std::map<std::pair<std::string, int>, Mean> speed_by_len, attended_by_len;     // method, length
  for (const SampleResult& r : results) {
    lengths.insert(r.length), depths.insert(r.depth), tasks.insert(r.task);
    score[r.method].Add(r.score);
    attended[r.method].Add(r.attended_fraction);
    prefill[r.method].Add(r.prefill_attended_fraction);
    resident[r.method].Add(r.resident_fraction);
    selections[r.method].Add(r.selections_per_token);
    speed[r.method].Add(r.decode_tokens_per_s);
    by_task[{r.method, r.task, r.length}].Add(r.score);
    by_depth[{r.method, r.length, r.depth}].Add(r.score);
    speed_by_len[{r.method, r.length}].Add(r.decode_tokens_per_s);
    attended_by_len[{r.method, r.length}].Add(r.attended_fraction);
  }

  nlohmann::json summary = {{"methods", nlohmann::json::array()}};
  std::string md = "| method | score % | attended % | prefill attended % | resident % | selections/token | decode tok/s |\n"
                   "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const std::string& m : methods) {
    nlohmann::json per_task = nlohmann::json::object();
    for (const auto& t : tasks)
      for (int L : lengths) {
        auto it = by_task.find({m, t, L});
        if (it != by_task.end()) per_task[t][std::to_string(L)] = it->second.get();
      }
    summary["methods"].push_back({{"method", m}, {"score", score[m].get()}, {"attended_fraction", attended[m].get()},
                                  {"prefill_attended_fraction", prefill[m].get()},
                                  {"resident_fraction", resident[m].get()},
                                  {"selections_per_token", selections[m].get()},
                                  {"decode_tokens_per_s", speed[m].get()}, {"by_task_length", per_task}});
    char line[256];
    std::snprintf(line, sizeof line, "| %s | %s | %s | %s | %s | %.3f | %.1f |\n", m.c_str(), Pct(score[m].get()).c_str(),
                  Pct(attended[m].get()).c_str(), Pct(prefill[m].get()).c_str(), Pct(resident[m].get()).c_str(),
                  selections[m].get(), speed[m].get());
    md += line;
  }
  md += "\nScore % by task and context length:\n\n| method | task |";
  for (int L : lengths) md += " " + std::to_string(L) + " |";
  md += "\n| --- | --- |";
  for (size_t i = 0; i < lengths.size(); ++i) md += " ---: |";
  md += "\n";
  for (const std::string& m : methods)
    for (const auto& t : tasks) {
      md += "| " + m + " | " + t + " |";
      for (int L : lengths) {
        auto it = by_task.find({m, t, L});
        md += ' ';
        if (it != by_task.end()) md += Pct(it->second.get());  // an empty cell where no sample ran
        md += " |";
      }
      md += "\n";
    }
  const nlohmann::json agreement = AgreementSection(results, methods, md);
  if (!agreement.empty()) summary["agreement_with_dense"] = agreement;
  if (!fidelity.empty()) summary["fidelity"] = FidelitySection(dir, fidelity, methods, md);
  if (!adapter_metrics.is_null()) summary["adapters"] = AdapterSection(dir, adapter_metrics, md);
  WriteTextFile(dir + "/summary.json", summary.dump(2) + "\n");
  WriteTextFile(dir + "/summary.md", md);

  // Accuracy by length (rows) and depth (columns), one heat-map per method.
  for (const std::string& m : methods) {
    HeatMap h;
    h.title = "Accuracy of " + m + " by context length and depth";
    h.x_label = "needle depth";
    h.y_label = "tokens";
    for (double d : depths) h.col_labels.push_back(std::to_string(int(std::lround(d * 100))) + "%");
    for (int L : lengths) {
      h.row_labels.push_back(std::to_string(L));
      std::vector<double> row;
      for (double d : depths) {
        auto it = by_depth.find({m, L, d});
        row.push_back(it == by_depth.end() ? NAN : it->second.get());
      }
      h.values.push_back(row);
    }
    WriteSvg(dir + "/heatmap-" + m + ".svg", h.ToSvg());
  }
  LinePlot sp;
  sp.title = "Decode speed against context length";
  sp.x_label = "context tokens";
  sp.y_label = "decode tokens/s";
  sp.markers = true;
  LinePlot acc;
  acc.title = "Accuracy against attended KV fraction";
  acc.x_label = "attended fraction of the KV cache";
  acc.y_label = "score (%)";
  acc.lines = false, acc.markers = true;
  // A fraction and a score over their whole range (all scores 1.0 sit at the top of 0-100%).
  acc.x_min = 0.0, acc.x_max = 1.0, acc.y_min = 0.0, acc.y_max = 1.0, acc.y_percent = true;
  for (const std::string& m : methods) {
    PlotSeries s{m}, a{m};
    for (int L : lengths) {
      auto it = speed_by_len.find({m, L});
      if (it != speed_by_len.end()) s.x.push_back(L), s.y.push_back(it->second.get());
    }
    a.x.push_back(attended[m].get()), a.y.push_back(score[m].get());
    sp.series.push_back(s), acc.series.push_back(a);
  }
  WriteSvg(dir + "/speed.svg", sp.ToSvg());
  WriteSvg(dir + "/accuracy-vs-attended.svg", acc.ToSvg());
  return summary;
}

}  // namespace chunkllm
