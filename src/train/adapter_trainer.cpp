#include "train/adapter_trainer.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "chunk/adapter_file.h"
#include "chunk/chunk_distance.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/progress.h"
#include "core/timer.h"
#include "model/gguf_file.h"
#include "model/model.h"
#include "text/tokenizer.h"
#include "train/adapter_data.h"
#include "train/adapter_evaluation.h"
#include "train/adapter_losses.h"
#include "train/adapter_model.h"
#include "train/adapter_report.h"
#include "trainkit/lr_schedule.h"
#include "trainkit/malloc_tuning.h"
#include "trainkit/torch_checkpoint.h"

namespace chunkllm {
namespace {

// Everything that must match for a resume to continue the same run.
nlohmann::json RunIdentity(const AdapterTrainOptions& o, const BaseModelInfo& base) {
  const AdapterHyperParams& h = o.hp;
  nlohmann::json id = {{"base", base.fingerprint}, {"d_adapter", h.d_adapter}, {"rank", h.rank}, {"chunk_hidden", h.chunk_hidden},
          {"max_chunk", h.max_chunk}, {"chunk_key", h.chunk_key}, {"seq", o.seq}, {"steps", o.steps}, {"lr", o.lr},
          {"min_lr", o.min_lr}, {"warmup", o.warmup_steps}, {"weight_decay", o.weight_decay},
          {"pos_weight", o.pos_weight}, {"bce_weight", o.bce_weight}, {"seed", o.seed}, {"data", o.data_paths},
          {"local", o.local}, {"sink", o.sink}, {"distance_buckets", h.distance_buckets},
          {"boundary_delay", h.boundary_delay}};
  // Knobs added later join the identity only when set, so checkpoints from before them resume.
  if (h.boundary_inputs != 1) id["boundary_inputs"] = h.boundary_inputs;
  if (h.query_target != "token") id["query_target"] = h.query_target;
  if (h.length_bias) id["length_bias"] = true;
  if (h.score_groups != 1) id["score_groups"] = h.score_groups;
  if (h.query_distance) id["query_distance"] = true;
  if (h.query_features) id["query_features"] = true;
  if (h.rope_dims != 0) id["rope_dims"] = h.rope_dims, id["rope_base"] = h.rope_base;
  if (o.teacher_temperature != 1.0) id["teacher_temperature"] = o.teacher_temperature;
  if (o.topk_loss_weight != 0.0) id["topk_loss_weight"] = o.topk_loss_weight, id["topk"] = o.topk;
  return id;
}

void CheckOptions(const AdapterTrainOptions& o, const ModelConfig& c) {
  if (o.seq < 16 || o.seq > c.n_ctx_train) Fail("--seq must be in [16, ", c.n_ctx_train, "] for this model, got ", o.seq);
  if (o.steps <= 0) Fail("--steps must be positive, got ", o.steps);
  if (o.hp.rank <= 0 || o.hp.d_adapter <= 0) Fail("--rank and --d-adapter must be positive");
  if (!(o.lr > 0)) Fail("--lr must be positive, got ", o.lr);
  if (!(o.pos_weight > 0)) Fail("--pos-weight must be positive, got ", o.pos_weight);
  if (!(o.hp.alpha > 0 && o.hp.alpha < 1)) Fail("--alpha must be in (0, 1), got ", o.hp.alpha);
  if (!IsChunkKey(o.hp.chunk_key)) Fail("--chunk-key must be ", kChunkKeyValues, ", got '", o.hp.chunk_key, "'");
  if (!IsQueryTarget(o.hp.query_target)) {
    Fail("--query-target must be ", kQueryTargetValues, ", got '", o.hp.query_target, "'");
  }
  if (o.hp.score_groups < 1 || o.hp.rank % o.hp.score_groups != 0) {
    Fail("--score-groups must divide --rank ", o.hp.rank, ", got ", o.hp.score_groups);
  }
  if (o.topk <= 0) Fail("--topk must be positive, got ", o.topk);
  if (!(o.teacher_temperature > 0)) Fail("--teacher-temperature must be positive, got ", o.teacher_temperature);
  if (!(o.topk_loss_weight >= 0)) Fail("--topk-loss-weight must be >= 0, got ", o.topk_loss_weight);
  if (o.local < 0 || o.sink < 0) Fail("--local and --sink must be >= 0");
  if (o.hp.distance_buckets < 0 || o.hp.distance_buckets > kMaxDistanceBuckets) {
    Fail("--distance-buckets must be in [0, ", kMaxDistanceBuckets, "], got ", o.hp.distance_buckets);
  }
  if (o.hp.rope_dims < 0 || o.hp.rope_dims > o.hp.rank || o.hp.rope_dims % 2 != 0) {
    Fail("--adapter-rope-dims must be even and in [0, --rank ", o.hp.rank, "], got ", o.hp.rope_dims);
  }
  if (!(o.hp.rope_base > 1.0f)) Fail("--adapter-rope-base must be > 1, got ", o.hp.rope_base);
  if (o.hp.query_distance && o.hp.distance_buckets == 0) Fail("--query-distance needs --distance-buckets > 0");
  if (o.hp.boundary_delay < 0 || o.hp.boundary_delay > kMaxBoundaryDelay) {
    Fail("--boundary-delay must be in [0, ", kMaxBoundaryDelay, "], got ", o.hp.boundary_delay);
  }
  if (o.hp.boundary_inputs < 1 || o.hp.boundary_inputs > kMaxBoundaryInputs) {
    Fail("--boundary-inputs must be in [1, ", kMaxBoundaryInputs, "], got ", o.hp.boundary_inputs);
  }
}

}  // namespace

AdapterTrainResult RunAdapterTraining(const AdapterTrainOptions& opts) {
  KeepFreedMemoryForReuse();  // large tensors are reused, not page-faulted in each step (malloc_tuning.h)
  torch::set_num_threads(opts.n_threads);
  AdapterTrainOptions o = opts;
  const std::string ckpt = o.checkpoint_path.empty() ? o.output_path + ".ckpt" : o.checkpoint_path;
  const std::string report_dir = o.report_dir.empty() ? o.output_path + ".report" : o.report_dir;
  // The outputs are written after all the steps: a place they cannot go is refused now.
  for (const std::string& out : {o.output_path, ckpt, report_dir}) CheckWritableOutput(out);
  auto model = Model::Load(o.model_path);
  const ModelConfig& c = model->config();
  if (o.hp.d_adapter <= 0) o.hp.d_adapter = std::max(1, c.n_embd / 4);
  CheckOptions(o, c);
  const BaseModelInfo base = BaseModelInfoOf(*model, GgufFile::Open(o.model_path));
  auto tok = Tokenizer::Load(o.model_path);
  RefuseHeldOutText(o.data_paths, "train on");
  const AdapterCorpus train = LoadAdapterCorpus(*tok, o.data_paths);
  const AdapterCorpus held_out = LoadAdapterCorpus(*tok, o.val_paths);
  std::fprintf(stderr, "train: %zu documents (%zu tokens, %llu sentences; %zu skipped), %zu held-out documents\n",
               train.n_documents, train.tokens.size(), (unsigned long long)train.n_sentences, train.n_skipped,
               held_out.n_documents);

  AdapterModel m(c.n_layer, c.n_embd, o.hp, o.seed);
  torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  const nlohmann::json identity = RunIdentity(o, base);
  AdapterTrainResult hist;
  int64_t step = 0;
  if (o.resume) {
    if (!std::filesystem::exists(ckpt)) Fail(ckpt, ": no checkpoint to resume from");
    const nlohmann::json meta = LoadTorchCheckpoint(ckpt, m->named_parameters(), opt, identity);
    step = meta.at("next_step").get<int64_t>();
    hist = AdapterHistoryFromJson(meta.at("history"));
    std::fprintf(stderr, "train: resumed at step %lld from %s\n", (long long)step, ckpt.c_str());
  } else if (std::filesystem::exists(ckpt)) {
    Fail(ckpt, ": a checkpoint exists; pass --resume to continue it or remove it to start over");
  }
  auto save = [&] {
    SaveTorchCheckpoint(ckpt, m->named_parameters(), opt,
                        {{"format", 1}, {"next_step", step}, {"identity", identity}, {"history", ToJson(hist)}});
  };

  AdapterBatchOptions bo;
  bo.max_chunk = o.hp.max_chunk, bo.local = o.local, bo.sink = o.sink, bo.n_threads = o.n_threads;
  const std::vector<AdapterBatch> val = HeldOutBatches(*model, held_out, o.val_windows, o.seq, bo);

  const DistillObjective objective{o.teacher_temperature, o.topk_loss_weight, o.topk};
  ProgressBar bar(o.steps, "train", o.show_progress);
  double last_ckpt = NowSeconds();
  const double run_start = NowSeconds(), seconds_before = hist.train_seconds;
  int64_t steps_this_run = 0;
  while (step < o.steps) {
    const double t0 = NowSeconds();
    std::vector<int32_t> tokens;
    std::vector<uint8_t> labels;
    train.Window(o.seed, step, o.seq, tokens, labels);
    const AdapterBatch b = MakeAdapterBatch(*model, tokens, labels, bo);
    const double lr = CosineLearningRate(step, o.steps, o.warmup_steps, o.lr, o.min_lr);
    static_cast<torch::optim::AdamWOptions&>(opt.param_groups()[0].options()).lr(lr);
    opt.zero_grad();
    const AdapterLosses l = AdapterForward(*m, b, o.pos_weight, objective);
    const torch::Tensor loss = l.distill.mean() + o.bce_weight * l.bce;
    loss.backward();
    torch::nn::utils::clip_grad_norm_(m->parameters(), o.grad_clip);
    opt.step();
    const double kl = l.kl.mean().item<double>(), bce = l.bce.item<double>();
    if (!std::isfinite(kl) || !std::isfinite(bce)) Fail("training diverged at step ", step, " (kl ", kl, ", bce ", bce, ")");
    TopKStats topk;
    topk.Add(l.logp.detach(), b.target, b.chunks, o.topk);
    const double tps = double(tokens.size()) / (NowSeconds() - t0);
    hist.steps.push_back({step, kl, bce, lr, topk.mean_recall(), tps});
    ++step, ++steps_this_run;
    hist.train_seconds = seconds_before + (NowSeconds() - run_start);

    const bool validate = step == o.steps || (o.val_every > 0 && step % o.val_every == 0);
    if (validate) hist.val.push_back(ValidateAdapters(*m, val, o.topk, o.pos_weight, step));
    char line[256];
    std::snprintf(line, sizeof line, "kl %.3f | bce %.3f | recall@%d %.3f | val recall %.3f F1 %.3f | %.0f tok/s", kl,
                  bce, o.topk, topk.mean_recall(), hist.val.empty() ? NAN : hist.val.back().mean_recall,
                  hist.val.empty() ? NAN : hist.val.back().f1, tps);
    bar.Update(step, line);
    if (!bar.active() && (step % 10 == 0 || validate)) {
      std::fprintf(stderr, "step %lld/%lld %s\n", (long long)step, (long long)o.steps, line);
    }
    const bool stop = o.stop_after_steps >= 0 && steps_this_run >= o.stop_after_steps;
    if (NowSeconds() - last_ckpt > o.checkpoint_minutes * 60.0 || stop) {
      save();
      last_ckpt = NowSeconds();
    }
    if (stop) return hist;
  }
  bar.Finish();
  hist.finished = true;
  save();

  AdapterSet a;
  a.base = base;
  m->ExportTo(a);
  a.training = {{"options", identity},
                {"data", {{"documents", train.n_documents}, {"tokens", train.tokens.size()},
                          {"sentences", train.n_sentences}, {"skipped_documents", train.n_skipped},
                          {"paths", o.data_paths}, {"held_out_paths", o.val_paths},
                          {"held_out_documents", held_out.n_documents}}},
                {"train_seconds", hist.train_seconds},
                {"validation", hist.val.empty() ? nlohmann::json() : ToJson(hist.val.back())}};
  SaveAdapters(a, o.output_path);
  WriteAdapterReport(report_dir, hist, a.training, o.topk);
  return hist;
}

}  // namespace chunkllm
