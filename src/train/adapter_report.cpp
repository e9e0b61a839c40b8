#include "train/adapter_report.h"

#include <cmath>
#include <filesystem>

#include "core/file_util.h"
#include "core/svg_plot.h"

namespace chunkllm {

nlohmann::json ToJson(const AdapterValidation& v) {
  return {{"step", v.step}, {"kl", v.kl}, {"bce", v.bce}, {"recall", v.recall}, {"mass", v.mass},
          {"mean_recall", v.mean_recall}, {"mean_mass", v.mean_mass}, {"precision", v.precision},
          {"recall_boundary", v.recall_boundary}, {"f1", v.f1}, {"recency_recall", v.recency_recall},
          {"recency_mass", v.recency_mass}, {"mean_recency_recall", v.mean_recency_recall},
          {"mean_recency_mass", v.mean_recency_mass}, {"teacher_mass", v.teacher_mass},
          {"mean_teacher_mass", v.mean_teacher_mass}};
}

namespace {

// JSON has no NaN: nlohmann writes null, read back as NaN.
double Number(const nlohmann::json& j) { return j.is_null() ? NAN : j.get<double>(); }

std::vector<double> Numbers(const nlohmann::json& j) {
  std::vector<double> v;
  for (const auto& x : j) v.push_back(Number(x));
  return v;
}

AdapterValidation ValidationFromJson(const nlohmann::json& j) {
  AdapterValidation v;
  v.step = j.at("step"), v.kl = Number(j.at("kl")), v.bce = Number(j.at("bce"));
  v.recall = Numbers(j.at("recall")), v.mass = Numbers(j.at("mass"));
  v.mean_recall = Number(j.at("mean_recall")), v.mean_mass = Number(j.at("mean_mass"));
  v.precision = Number(j.at("precision")), v.recall_boundary = Number(j.at("recall_boundary"));
  v.f1 = Number(j.at("f1"));
  // (Records written before the recency reference was measured lack it.)
  if (j.contains("recency_recall")) {
    v.recency_recall = Numbers(j.at("recency_recall")), v.recency_mass = Numbers(j.at("recency_mass"));
    v.mean_recency_recall = Number(j.at("mean_recency_recall"));
    v.mean_recency_mass = Number(j.at("mean_recency_mass"));
  } else {
    v.mean_recency_recall = v.mean_recency_mass = NAN;
  }
  v.mean_teacher_mass = NAN;  // (older records lack the teacher's own mass too)
  if (j.contains("teacher_mass")) {
    v.teacher_mass = Numbers(j.at("teacher_mass")), v.mean_teacher_mass = Number(j.at("mean_teacher_mass"));
  }
  return v;
}

}  // namespace

nlohmann::json ToJson(const AdapterTrainResult& r) {
  nlohmann::json steps = nlohmann::json::array(), val = nlohmann::json::array();
  for (const auto& s : r.steps) steps.push_back({s.step, s.kl, s.bce, s.lr, s.recall, s.tokens_per_s});
  for (const auto& v : r.val) val.push_back(ToJson(v));
  return {{"steps", steps}, {"val", val}, {"train_seconds", r.train_seconds}, {"finished", r.finished}};
}

AdapterTrainResult AdapterHistoryFromJson(const nlohmann::json& j) {
  AdapterTrainResult r;
  for (const auto& s : j.at("steps")) {
    r.steps.push_back({s[0].get<int64_t>(), Number(s[1]), Number(s[2]), Number(s[3]), Number(s[4]), Number(s[5])});
  }
  for (const auto& v : j.at("val")) r.val.push_back(ValidationFromJson(v));
  r.train_seconds = j.at("train_seconds");
  r.finished = j.at("finished");
  return r;
}

namespace {

void WriteAdapterPlots(const std::string& dir, const AdapterTrainResult& r, int topk) {
  LinePlot loss;
  loss.title = "Adapter training losses";
  loss.x_label = "step";
  loss.y_label = "loss";
  loss.log_y = true;
  PlotSeries kl{"KL (train)"}, bce{"BCE (train)"}, vkl{"KL (held-out)"}, vbce{"BCE (held-out)"};
  for (const auto& s : r.steps) kl.x.push_back(double(s.step + 1)), kl.y.push_back(s.kl), bce.x.push_back(double(s.step + 1)), bce.y.push_back(s.bce);
  for (const auto& v : r.val) vkl.x.push_back(double(v.step)), vkl.y.push_back(v.kl), vbce.x.push_back(double(v.step)), vbce.y.push_back(v.bce);
  loss.series = {kl, bce, vkl, vbce};
  WriteSvg(dir + "/loss.svg", loss.ToSvg());

  LinePlot recall;
  recall.title = "Held-out top-" + std::to_string(topk) + " recall per layer, and boundary F1";
  recall.x_label = "step";
  recall.y_label = "recall / F1 (%)";
  recall.markers = true;
  recall.y_min = 0.0, recall.y_max = 1.0, recall.y_percent = true;  // rates: the whole 0-100%
  const size_t L = r.val.empty() ? 0 : r.val.back().recall.size();
  for (size_t l = 0; l < L; ++l) {
    PlotSeries s{"layer " + std::to_string(l)};
    for (const auto& v : r.val) s.x.push_back(double(v.step)), s.y.push_back(v.recall[l]);
    recall.series.push_back(s);
  }
  // The reference without adapters: the k most recent candidates (the same at every step).
  PlotSeries recent{"k most recent (mean of layers)"};
  for (const auto& v : r.val) {
    if (std::isfinite(v.mean_recency_recall)) recent.x.push_back(double(v.step)), recent.y.push_back(v.mean_recency_recall);
  }
  if (!recent.x.empty()) recall.series.push_back(recent);
  PlotSeries f1{"boundary F1"};
  for (const auto& v : r.val) f1.x.push_back(double(v.step)), f1.y.push_back(v.f1);
  recall.series.push_back(f1);
  WriteSvg(dir + "/recall.svg", recall.ToSvg());
}

}  // namespace

void WriteAdapterReport(const std::string& dir, const AdapterTrainResult& r, const nlohmann::json& training,
                        int topk) {
  std::filesystem::create_directories(dir);
  nlohmann::json report = {{"training", training}, {"history", ToJson(r)}, {"topk", topk}};
  WriteTextFile(dir + "/report.json", report.dump(2) + "\n");
  WriteAdapterPlots(dir, r, topk);
}

}  // namespace chunkllm
