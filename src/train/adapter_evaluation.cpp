#include "train/adapter_evaluation.h"

#include <cmath>

#include "core/error.h"
#include "model/model.h"
#include "train/adapter_data.h"
#include "train/adapter_losses.h"
#include "train/adapter_model.h"
#include "train/chunk_score.h"
#include "train/teacher.h"

namespace chunkllm {
namespace {

torch::Tensor Stack(std::vector<std::vector<float>>& rows, int64_t T, int64_t D) {
  std::vector<torch::Tensor> parts;
  for (auto& r : rows) parts.push_back(torch::from_blob(r.data(), {T, D}, torch::kFloat32).clone());
  return torch::stack(parts);
}

// (L, T, C) scores that rank every position's candidates by recency: chunk c scores c.
torch::Tensor RecencyScores(const AdapterBatch& b) {
  const int64_t L = b.target.size(0), T = b.target.size(1), C = b.target.size(2);
  return torch::arange(C, torch::kFloat32).view({1, 1, C}).expand({L, T, C}).contiguous();
}

}  // namespace

AdapterBatch MakeAdapterBatch(const Model& model, const std::vector<int32_t>& tokens,
                              const std::vector<uint8_t>& labels, const AdapterBatchOptions& o) {
  AdapterBatch b;
  b.chunks = PartitionChunks(labels, o.max_chunk);
  b.chunks.skip_local = o.local;
  TeacherOptions to;
  to.n_threads = o.n_threads;
  to.sink = o.sink;
  TeacherOutput t = RunTeacher(model, tokens, b.chunks, to);
  const int64_t T = t.T, D = t.D, C = t.C;
  b.x = Stack(t.attn_in, T, D);
  b.h1 = torch::from_blob(t.layer1.data(), {T, D}, torch::kFloat32).clone();
  b.target = Stack(t.target, T, C);
  b.cand = CandidateMask(b.chunks);
  std::vector<float> lab(labels.begin(), labels.end());
  b.labels = torch::tensor(lab);
  return b;
}

std::vector<AdapterBatch> HeldOutBatches(const Model& model, const AdapterCorpus& held_out, int n, int seq,
                                         const AdapterBatchOptions& o) {
  std::vector<AdapterBatch> batches;
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> tokens;
    std::vector<uint8_t> labels;
    held_out.FixedWindow(i, n, seq, tokens, labels);
    batches.push_back(MakeAdapterBatch(model, tokens, labels, o));
  }
  return batches;
}

AdapterLosses AdapterForward(const AdapterModelImpl& m, const AdapterBatch& b, double pos_weight,
                             const DistillObjective& objective) {
  AdapterLosses l;
  l.logp = ChunkScores(m, b.x, b.chunks, b.cand);
  l.kl = ChunkKl(b.target, l.logp, b.cand);
  l.distill = objective.teacher_temperature == 1.0
                  ? l.kl
                  : ChunkKl(SharpenTarget(b.target, objective.teacher_temperature), l.logp, b.cand);
  if (objective.topk_weight != 0.0) {
    l.distill = l.distill + objective.topk_weight * TopKSetLoss(b.target, l.logp, b.chunks, objective.topk);
  }
  // With a delay d, token i's boundary is read from h_1 up to token i + d: the last d tokens of
  // the window have no decision yet (as at inference, where the next token has not come).
  const int64_t T = b.h1.size(0), d = m.hp.boundary_delay;
  l.boundary_logits = m.BoundaryLogits(b.h1);
  l.boundary_labels = b.labels.slice(0, 0, T - d);
  l.bce = BoundaryBce(l.boundary_logits, l.boundary_labels, pos_weight);
  return l;
}

AdapterValidation ValidateAdapters(const AdapterModelImpl& m, const std::vector<AdapterBatch>& windows, int topk,
                                   double pos_weight, int64_t step) {
  torch::NoGradGuard ng;
  AdapterValidation v;
  v.step = step;
  TopKStats student, recency, teacher;
  PrecisionRecall bs;
  for (const AdapterBatch& b : windows) {
    const AdapterLosses l = AdapterForward(m, b, pos_weight);
    v.kl += l.kl.mean().item<double>() / double(windows.size());
    v.bce += l.bce.item<double>() / double(windows.size());
    student.Add(l.logp, b.target, b.chunks, topk);
    recency.Add(RecencyScores(b), b.target, b.chunks, topk);
    teacher.Add(b.target, b.target, b.chunks, topk);  // the teacher ranks by its own mass
    bs += CountBoundaries(l.boundary_logits, l.boundary_labels, m.hp.alpha);
  }
  v.recall = student.recalls(), v.mass = student.masses();
  v.mean_recall = student.mean_recall(), v.mean_mass = student.mean_mass();
  v.recency_recall = recency.recalls(), v.recency_mass = recency.masses();
  v.mean_recency_recall = recency.mean_recall(), v.mean_recency_mass = recency.mean_mass();
  v.teacher_mass = teacher.masses(), v.mean_teacher_mass = teacher.mean_mass();  // (its recall: 1 up to ties)
  v.precision = bs.precision(), v.recall_boundary = bs.recall(), v.f1 = bs.f1();
  return v;
}

void CheckAdapterEvalOptions(const Model& model, const AdapterEvalOptions& o) {
  const int n_ctx = model.config().n_ctx_train;
  if (o.windows <= 0) Fail("--adapter-windows must be > 0 to measure adapters, got ", o.windows);
  if (o.seq < 16 || o.seq > n_ctx) Fail("--adapter-seq must be in [16, ", n_ctx, "] for this model, got ", o.seq);
}

AdapterValidation EvaluateAdapters(const Model& model, const AdapterSet& adapters, const AdapterCorpus& held_out,
                                   const AdapterEvalOptions& o) {
  CheckAdapterEvalOptions(model, o);
  const ModelConfig& c = model.config();
  AdapterModelImpl m(c.n_layer, c.n_embd, adapters.hp, 0);
  m.ImportFrom(adapters);
  AdapterBatchOptions bo = o.batch;
  bo.max_chunk = adapters.hp.max_chunk;
  return ValidateAdapters(m, HeldOutBatches(model, held_out, o.windows, o.seq, bo), o.topk, 1.0, 0);
}

}  // namespace chunkllm
