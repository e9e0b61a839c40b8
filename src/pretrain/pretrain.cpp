#include "pretrain/pretrain.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"
#include "core/progress.h"
#include "core/timer.h"
#include "text/tokenizer.h"
#include "core/svg_plot.h"
#include "trainkit/lr_schedule.h"
#include "trainkit/malloc_tuning.h"
#include "pretrain/copy_probe.h"
#include "pretrain/retrieval_probe.h"
#include "trainkit/torch_checkpoint.h"

namespace chunkllm {

std::vector<PretrainPhase> ParsePhases(const std::string& text) {
  std::vector<PretrainPhase> phases;
  std::stringstream ss(text);
  std::string part;
  double total = 0;
  while (std::getline(ss, part, ',')) {
    PretrainPhase p;
    char x = 0, colon = 0;
    std::istringstream ps(part);
    if (!(ps >> p.seq >> x >> p.batch >> colon >> p.share) || x != 'x' || colon != ':' || p.seq < 8 ||
        p.batch < 1 || !(p.share > 0)) {
      Fail("--schedule: cannot read '", part, "' (expected SEQxBATCH:SHARE, e.g. 512x8:0.6)");
    }
    total += p.share;
    phases.push_back(p);
  }
  if (phases.empty()) Fail("--schedule is empty");
  for (auto& p : phases) p.share /= total;
  return phases;
}

namespace {

// The step plan: each phase's steps, derived from the token budget.
struct Plan {
  std::vector<int64_t> first_step;  // per phase
  int64_t total_steps = 0;
  const PretrainPhase& PhaseAt(const std::vector<PretrainPhase>& phases, int64_t step) const {
    size_t i = 0;
    while (i + 1 < phases.size() && step >= first_step[i + 1]) ++i;
    return phases[i];
  }
};

Plan MakePlan(const PretrainOptions& o) {
  Plan plan;
  for (const auto& p : o.phases) {
    plan.first_step.push_back(plan.total_steps);
    plan.total_steps += std::max<int64_t>(1, int64_t(std::llround(double(o.total_tokens) * p.share / (p.seq * p.batch))));
  }
  return plan;
}

torch::Tensor ToTensor(const std::vector<std::vector<int32_t>>& rows, int64_t begin, int64_t len) {
  torch::Tensor t = torch::empty({int64_t(rows.size()), len}, torch::kLong);
  auto a = t.accessor<int64_t, 2>();
  for (size_t r = 0; r < rows.size(); ++r)
    for (int64_t i = 0; i < len; ++i) a[int64_t(r)][i] = rows[r][size_t(begin + i)];
  return t;
}

nlohmann::json HistoryToJson(const PretrainResult& r) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : r.steps) steps.push_back({s.step, s.seq, s.loss, s.lr, s.grad_norm, s.tokens_per_s});
  nlohmann::json val = nlohmann::json::array();
  for (const auto& [s, l] : r.val) val.push_back({s, l});
  auto probes = [](const std::vector<PretrainResult::Probe>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& p : v) a.push_back({p.step, p.seq, p.accuracy});
    return a;
  };
  return {{"steps", steps}, {"val", val}, {"probe", probes(r.probe)}, {"copy_probe", probes(r.copy)},
          {"tokens_seen", r.tokens_seen},
          {"train_seconds", r.train_seconds}, {"finished", r.finished}};
}

PretrainResult HistoryFromJson(const nlohmann::json& j) {
  PretrainResult r;
  for (const auto& s : j.at("steps")) {
    r.steps.push_back({s[0].get<int64_t>(), s[1].get<int>(), s[2].get<double>(), s[3].get<double>(),
                       s[4].get<double>(), s[5].get<double>()});
  }
  for (const auto& v : j.at("val")) r.val.push_back({v[0].get<int64_t>(), v[1].get<double>()});
  auto probes = [&](const char* key, std::vector<PretrainResult::Probe>& v) {
    if (!j.contains(key)) return;  // histories from before that probe have none
    for (const auto& p : j.at(key)) v.push_back({p[0].get<int64_t>(), p[1].get<int>(), p[2].get<double>()});
  };
  probes("probe", r.probe);
  probes("copy_probe", r.copy);
  r.tokens_seen = j.at("tokens_seen").get<int64_t>();
  r.train_seconds = j.at("train_seconds").get<double>();
  r.finished = j.at("finished").get<bool>();
  return r;
}

// Everything that must match for a resume to continue the same run.
nlohmann::json RunIdentity(const PretrainOptions& o) {
  nlohmann::json phases = nlohmann::json::array();
  for (const auto& p : o.phases) phases.push_back({p.seq, p.batch, p.share});
  const auto& m = o.model;
  const ModelShape& s = m.shape;
  nlohmann::json id = {{"model", {m.n_vocab, s.n_embd, s.n_layer, s.n_head, s.n_head_kv, s.head_dim, s.n_ff, s.rope_freq_base, s.rms_eps}},
          {"phases", phases}, {"total_tokens", o.total_tokens}, {"lr", o.lr}, {"min_lr", o.min_lr},
          {"warmup", o.warmup_steps}, {"seed", o.seed}, {"synthetic", o.data.synthetic_share},
          {"copy_share", o.data.copy_share}, {"copy_items", o.data.copy_items}, {"init_from", o.init_from}, {"bf16", o.bf16}};
  // (Keys added later enter only when set, so that earlier checkpoints still resume.)
  // (One min length is recorded as a number, as before the list.)
  const std::vector<int>& mins = o.data.synthetic_min_lengths;
  id["synthetic_min_length"] = mins.size() == 1 ? nlohmann::json(mins[0]) : nlohmann::json(mins);
  if (o.data.copy_vocab > 0) id["copy_vocab"] = o.data.copy_vocab;
  if (o.data.answer_weight != 1.0) id["answer_weight"] = o.data.answer_weight;
  if (o.data.synthetic_depth_power != 1.0) id["synthetic_depth_power"] = o.data.synthetic_depth_power;
  if (!o.data.synthetic_task_weights.empty() || o.data.synthetic_tasks != PretrainDataOptions().synthetic_tasks) {
    nlohmann::json tasks = nlohmann::json::array();
    for (size_t i = 0; i < o.data.synthetic_tasks.size(); ++i) {
      const int w = o.data.synthetic_task_weights.empty() ? 1 : o.data.synthetic_task_weights[i];
      tasks.push_back({o.data.synthetic_tasks[i], w});
    }
    id["synthetic_tasks"] = tasks;
  }
  return id;
}

void SaveCheckpoint(const std::string& path, TorchLlama& model, torch::optim::AdamW& opt, int64_t next_step,
                    const PretrainResult& hist, const nlohmann::json& identity) {
  SaveTorchCheckpoint(path, model->named_parameters(), opt,
                      {{"format", 1}, {"next_step", next_step}, {"identity", identity}, {"history", HistoryToJson(hist)}});
}

int64_t LoadCheckpoint(const std::string& path, TorchLlama& model, torch::optim::AdamW& opt, PretrainResult& hist,
                       const nlohmann::json& identity) {
  const nlohmann::json meta = LoadTorchCheckpoint(path, model->named_parameters(), opt, identity);
  hist = HistoryFromJson(meta.at("history"));
  return meta.at("next_step").get<int64_t>();
}

// Validation windows are min(512, first phase's length) tokens.
int ValidationWindow(const PretrainOptions& o) { return std::min(512, o.phases.front().seq); }

// Mean loss over the fixed validation windows.
double ValidationLoss(TorchLlama& model, const PretrainData& data, const PretrainOptions& o) {
  const int T = ValidationWindow(o);
  const auto rows = data.ValidationRows(T, o.val_windows);
  if (rows.empty()) return NAN;
  torch::NoGradGuard ng;
  double sum = 0;
  for (size_t i = 0; i < rows.size(); i += 4) {
    std::vector<std::vector<int32_t>> chunk(rows.begin() + long(i), rows.begin() + long(std::min(rows.size(), i + 4)));
    const torch::Tensor x = ToTensor(chunk, 0, T), y = ToTensor(chunk, 1, T);
    sum += WithBf16Autocast(o.bf16, [&] { return model->Loss(x, y); }).item<double>() * double(chunk.size());
  }
  return sum / double(rows.size());
}

}  // namespace

PretrainResult RunPretrain(const PretrainOptions& o) {
  KeepFreedMemoryForReuse();  // large tensors are reused, not page-faulted in each step (malloc_tuning.h)
  torch::set_num_threads(o.n_threads);
  const std::string ckpt = o.checkpoint_path.empty() ? o.output_path + ".ckpt" : o.checkpoint_path;
  // The model is written after all the steps and the checkpoint after minutes of them: a place
  // they cannot go is refused now (an export only reads the checkpoint).
  CheckWritableOutput(o.output_path);
  if (!o.export_checkpoint) CheckWritableOutput(ckpt);
  auto tok = Tokenizer::Load(o.vocab_path);
  TorchLlamaConfig mc = o.model;
  mc.n_vocab = tok->n_vocab();
  PretrainOptions opts = o;
  opts.model = mc;
  const nlohmann::json identity = RunIdentity(opts);

  PretrainData data(*tok, o.data);
  std::fprintf(stderr, "pretrain: %zu training documents (%zu tokens), %zu validation tokens\n",
               data.train_documents(), data.train_tokens(), data.val_tokens());

  if (!o.data.val_paths.empty() && data.ValidationRows(ValidationWindow(o), 1).empty()) {
    std::fprintf(stderr, "pretrain: warning: the validation text (%zu tokens) is shorter than one window; no validation loss\n",
                 data.val_tokens());
  }
  TorchLlama model(mc, o.seed);
  if (!o.init_from.empty()) {
    model->ImportGguf(o.init_from);
    std::fprintf(stderr, "pretrain: warm start from %s\n", o.init_from.c_str());
  }
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model->named_parameters()) {
    (p.value().dim() >= 2 ? decay : no_decay).push_back(p.value());
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(o.weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(0.0)));
  torch::optim::AdamW opt(groups);

  PretrainResult hist;
  int64_t step = 0;
  auto write_outputs = [&] {
    model->ExportGguf(o.output_path, o.vocab_path, "chunkllm demo backbone");
    WriteTextFile(o.output_path + ".train.json", HistoryToJson(hist).dump() + "\n");
    WritePretrainLossPlot(o.output_path + ".train.json", o.output_path + ".loss.svg");
  };
  if (o.export_checkpoint) {
    if (!std::filesystem::exists(ckpt)) Fail(ckpt, ": no checkpoint to export");
    step = LoadCheckpoint(ckpt, model, opt, hist, identity);
    write_outputs();
    std::fprintf(stderr, "pretrain: wrote %s from the checkpoint at step %lld (%lld tokens)\n", o.output_path.c_str(),
                 (long long)step, (long long)hist.tokens_seen);
    return hist;
  }
  if (o.resume) {
    if (!std::filesystem::exists(ckpt)) Fail(ckpt, ": no checkpoint to resume from");
    step = LoadCheckpoint(ckpt, model, opt, hist, identity);
    std::fprintf(stderr, "pretrain: resumed at step %lld from %s\n", (long long)step, ckpt.c_str());
  } else if (std::filesystem::exists(ckpt)) {
    Fail(ckpt, ": a checkpoint exists; pass --resume to continue it or remove it to start over");
  }

  const Plan plan = MakePlan(opts);
  std::fprintf(stderr, "pretrain: %.1fM parameters, %lld steps for %.1fM tokens\n", double(model->n_params()) / 1e6,
               (long long)plan.total_steps, double(o.total_tokens) / 1e6);
  // One probe per phase length, built once (the documents are fixed for the whole run).
  std::map<int, std::unique_ptr<RetrievalProbe>> probes;
  // passkey and niah_single, and the varied-wording tasks when the mix trains them.
  std::vector<std::string> probe_tasks = {"passkey", "niah_single"};
  for (const std::string& t : o.data.synthetic_tasks) {
    if (t.rfind("varied_", 0) == 0) probe_tasks.push_back(t);
  }
  std::map<int, std::unique_ptr<CopyProbe>> copy_probes;
  auto probe_at = [&](int seq) -> RetrievalProbe& {
    auto& p = probes[seq];
    if (!p) p = std::make_unique<RetrievalProbe>(*tok, data.validation_haystack(), seq, o.probe_docs, o.seed, probe_tasks);
    return *p;
  };
  ProgressBar bar(plan.total_steps, "pretrain", o.show_progress);
  double last_ckpt = NowSeconds();
  const double run_start = NowSeconds(), seconds_before = hist.train_seconds;
  int64_t steps_this_run = 0;
  while (step < plan.total_steps) {
    const PretrainPhase& ph = plan.PhaseAt(o.phases, step);
    const double t0 = NowSeconds();
    const double lr = CosineLearningRate(step, plan.total_steps, o.warmup_steps, o.lr, o.min_lr);
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    opt.zero_grad();
    // Each target token weighs 1, or --answer-weight in a synthetic document's answer.
    std::vector<std::vector<int32_t>> rows(size_t(ph.batch));
    std::vector<torch::Tensor> weights(size_t(ph.batch));  // (1, T) each
    double total_weight = 0;
    for (int b = 0; b < ph.batch; ++b) {
      std::vector<uint8_t> answer;
      rows[size_t(b)] = data.Row(step, b, ph.seq, &answer);
      weights[size_t(b)] = torch::ones({1, ph.seq});
      float* w = weights[size_t(b)].data_ptr<float>();
      for (int i = 0; i < ph.seq; ++i) w[i] = answer[size_t(i + 1)] ? float(o.data.answer_weight) : 1.0f;
      total_weight += weights[size_t(b)].sum().item<double>();
    }
    // Micro-batches of at most `ubatch` rows: each one's weighted mean loss, scaled by its share
    // of the batch's weight, so that the gradients sum to those of the whole batch's mean.
    const int ub = o.ubatch > 0 ? std::min(o.ubatch, ph.batch) : ph.batch;
    double loss_v = 0;
    for (int b0 = 0; b0 < ph.batch; b0 += ub) {
      const int n = std::min(ub, ph.batch - b0);
      const std::vector<std::vector<int32_t>> part(rows.begin() + b0, rows.begin() + b0 + n);
      const torch::Tensor x = ToTensor(part, 0, ph.seq), y = ToTensor(part, 1, ph.seq);
      const torch::Tensor w = torch::cat(std::vector<torch::Tensor>(weights.begin() + b0, weights.begin() + b0 + n));
      const double share = w.sum().item<double>() / total_weight;
      const torch::Tensor loss = WithBf16Autocast(o.bf16, [&] { return model->Loss(x, y, w); }) * share;
      loss.backward();
      loss_v += loss.item<double>();
    }
    const double gnorm = torch::nn::utils::clip_grad_norm_(model->parameters(), o.grad_clip);
    opt.step();
    if (!std::isfinite(loss_v)) Fail("training diverged at step ", step, " (loss ", loss_v, ")");
    const double dt = NowSeconds() - t0;
    const double tps = double(ph.seq * ph.batch) / dt;
    hist.steps.push_back({step, ph.seq, loss_v, lr, gnorm, tps});
    hist.tokens_seen += int64_t(ph.seq) * ph.batch;
    ++step;
    ++steps_this_run;
    hist.train_seconds = seconds_before + (NowSeconds() - run_start);

    const bool validate = o.val_every > 0 && (step % o.val_every == 0 || step == plan.total_steps);
    if (validate) {
      const double val = ValidationLoss(model, data, o);
      if (std::isfinite(val)) hist.val.push_back({step, val});  // (NaN: no window fits in --val)
      const double acc = o.probe_docs > 0 ? probe_at(ph.seq).Accuracy(model, o.bf16) : NAN;
      if (std::isfinite(acc)) hist.probe.push_back({step, ph.seq, acc});
      if (o.copy_probe_docs > 0) {
        auto& cp = copy_probes[ph.seq];
        // (Seeds far from the training rows', which come from RowRng.)
        if (!cp) cp = std::make_unique<CopyProbe>(data, ph.seq, o.copy_probe_docs, o.seed * 7919 + 0x5EEDC0DE);
        const double copy_acc = cp->Accuracy(model, o.bf16);
        if (std::isfinite(copy_acc)) hist.copy.push_back({step, ph.seq, copy_acc});
      }
    }
    char line[256];
    std::snprintf(line, sizeof line, "T %d | loss %.3f | val %.3f | retrieval %.0f%% | copy %.1f%% | lr %.2e | %.0f tok/s",
                  ph.seq, loss_v, hist.val.empty() ? NAN : hist.val.back().second,
                  hist.probe.empty() ? NAN : 100.0 * hist.probe.back().accuracy,
                  hist.copy.empty() ? NAN : 100.0 * hist.copy.back().accuracy, lr, tps);
    bar.Update(step, line);
    if (!bar.active() && (step % 20 == 0 || validate)) {
      std::fprintf(stderr, "step %lld/%lld %s\n", (long long)step, (long long)plan.total_steps, line);
    }
    const bool stop = o.stop_after_steps >= 0 && steps_this_run >= o.stop_after_steps;
    if (NowSeconds() - last_ckpt > o.checkpoint_minutes * 60.0 || stop) {
      SaveCheckpoint(ckpt, model, opt, step, hist, identity);
      last_ckpt = NowSeconds();
    }
    if (stop) return hist;
  }
  bar.Finish();
  hist.finished = true;
  SaveCheckpoint(ckpt, model, opt, step, hist, identity);
  write_outputs();
  return hist;
}

void WritePretrainLossPlot(const std::string& history_path, const std::string& svg_path) {
  PretrainResult h;
  try {
    h = HistoryFromJson(nlohmann::json::parse(ReadTextFile(history_path)));
  } catch (const nlohmann::json::exception& e) {
    Fail(history_path, ": not a pretraining history (", e.what(), ")");
  }
  LinePlot plot;
  plot.title = "Backbone pretraining loss";
  plot.x_label = "step";
  plot.y_label = "cross-entropy (nats/token)";
  PlotSeries train{"train (mean of 20 steps)"}, val{"validation"};
  double sum = 0;
  int n = 0;
  for (size_t i = 0; i < h.steps.size(); ++i) {
    sum += h.steps[i].loss, ++n;
    if (n == 20 || i + 1 == h.steps.size()) {
      train.x.push_back(double(i + 1)), train.y.push_back(sum / n);
      sum = 0, n = 0;
    }
  }
  for (const auto& [step, loss] : h.val) val.x.push_back(double(step)), val.y.push_back(loss);
  plot.series = {train, val};
  WriteSvg(svg_path, plot.ToSvg());
}

}  // namespace chunkllm
