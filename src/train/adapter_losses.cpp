#include "train/adapter_losses.h"

#include <cmath>

#include "chunk/adapter_set.h"
#include "chunk/chunk_distance.h"
#include "core/error.h"

namespace chunkllm {

torch::Tensor CandidateMask(const ChunkPartition& p) {
  const int64_t C = p.n_chunks();
  std::vector<int64_t> n(p.chunk_of.size());
  for (size_t t = 0; t < n.size(); ++t) n[t] = p.n_candidates(int(t));
  const torch::Tensor n_cand = torch::tensor(n, torch::kLong).unsqueeze(1);  // (T, 1)
  return torch::arange(C, torch::kLong).unsqueeze(0) < n_cand;               // (T, C)
}

torch::Tensor ChunkKeys(const torch::Tensor& kf, const ChunkPartition& p, const std::string& mode) {
  if (mode == "boundary") {
    std::vector<int64_t> last(p.end.begin(), p.end.end());
    for (auto& e : last) e -= 1;
    return kf.index_select(1, torch::tensor(last, torch::kLong));
  }
  if (mode == "mean") {
    const torch::Tensor idx = torch::tensor(p.chunk_of, torch::kLong);
    torch::Tensor sum = torch::zeros({kf.size(0), p.n_chunks(), kf.size(2)}, kf.options()).index_add(1, idx, kf);
    std::vector<float> len(p.begin.size());
    for (size_t c = 0; c < len.size(); ++c) len[c] = float(p.end[c] - p.begin[c]);
    return sum / torch::tensor(len).to(kf.dtype()).view({1, -1, 1});
  }
  Fail("unknown chunk key mode '", mode, "' (", kChunkKeyValues, ")");
}

torch::Tensor ServingRows(const ChunkPartition& p, int delay) {
  const int64_t T = int64_t(p.chunk_of.size());
  std::vector<int64_t> rows(static_cast<size_t>(T));
  int64_t serving = -1;
  size_t c = 0;  // the next chunk whose selection token is not yet passed
  const size_t completed = p.end.size() - (p.last_open ? 1 : 0);
  for (int64_t t = 0; t < T; ++t) {
    // Selection tokens before t: end[c] - 1 + delay < t.
    while (c < completed && int64_t(p.end[c]) - 1 + delay < t) serving = int64_t(p.end[c]) - 1 + delay, ++c;
    rows[size_t(t)] = serving >= 0 ? serving : t;
  }
  return torch::tensor(rows, torch::kLong);
}

torch::Tensor ChunkKl(const torch::Tensor& target, const torch::Tensor& logp, const torch::Tensor& cand) {
  // sum_c t (log t - log s); t = 0 terms are 0 (xlogy).
  const torch::Tensor per_row = (torch::special::xlogy(target, target) - target * logp).sum(2);  // (L, T)
  const torch::Tensor rows = cand.any(1).to(target.dtype());                                         // (T)
  return (per_row * rows).sum(1) / rows.sum().clamp_min(1.0);
}

torch::Tensor SharpenTarget(const torch::Tensor& target, double temperature) {
  if (temperature == 1.0) return target;
  const torch::Tensor p = target.pow(1.0 / temperature);  // 0 stays 0 (temperature > 0)
  const torch::Tensor sum = p.sum(2, true);
  // Rows without candidates sum to 0 and stay 0 (a clamp to a tiny sum would round to 0 in float).
  return torch::where(sum > 0, p / sum, torch::zeros_like(p));
}

namespace {
// Rows of the partition with more than k candidates (where the top k is a choice).
std::vector<int64_t> RowsWithMoreCandidates(const ChunkPartition& p, int k) {
  std::vector<int64_t> rows;
  for (int64_t t = 0; t < int64_t(p.chunk_of.size()); ++t)
    if (p.n_candidates(int(t)) > k) rows.push_back(t);
  return rows;
}
}  // namespace

torch::Tensor TopKSetLoss(const torch::Tensor& target, const torch::Tensor& logp, const ChunkPartition& p, int k) {
  const std::vector<int64_t> rows_v = RowsWithMoreCandidates(p, k);
  if (rows_v.empty()) return torch::zeros({logp.size(0)}, logp.options());
  const torch::Tensor rows = torch::tensor(rows_v, torch::kLong);
  const torch::Tensor cand = CandidateMask(p).index_select(0, rows).unsqueeze(0);                       // (1, R, C)
  const torch::Tensor t_top = std::get<1>(target.index_select(1, rows).masked_fill(cand.logical_not(), -1.0).topk(k, 2));
  return -torch::logsumexp(logp.index_select(1, rows).gather(2, t_top), 2).mean(1);  // (L)
}

torch::Tensor BoundaryBce(const torch::Tensor& logits, const torch::Tensor& labels, double pos_weight) {
  return torch::binary_cross_entropy_with_logits(logits, labels, {},
                                                 torch::full({1}, pos_weight, logits.options()));
}

void TopKStats::Add(const torch::Tensor& logp, const torch::Tensor& target, const ChunkPartition& p, int k) {
  const int64_t L = logp.size(0);
  if (recall_sum.empty()) recall_sum.assign(size_t(L), 0.0), mass_sum.assign(size_t(L), 0.0);
  const std::vector<int64_t> rows_v = RowsWithMoreCandidates(p, k);
  if (rows_v.empty()) return;
  const torch::Tensor rows_t = torch::tensor(rows_v, torch::kLong);
  const torch::Tensor cand = CandidateMask(p).index_select(0, rows_t).unsqueeze(0);
  // Non-candidates must never be picked: -inf for the student, -1 for the teacher.
  const torch::Tensor s = logp.index_select(1, rows_t).masked_fill(cand.logical_not(), -INFINITY);
  const torch::Tensor tg = target.index_select(1, rows_t);
  const torch::Tensor s_top = std::get<1>(s.topk(k, 2));                                        // (L, R, k)
  const torch::Tensor t_top = std::get<1>(tg.masked_fill(cand.logical_not(), -1.0).topk(k, 2));  // (L, R, k)
  const torch::Tensor in_teacher = torch::zeros_like(tg, torch::kBool).scatter(2, t_top, true);
  const torch::Tensor hit = in_teacher.gather(2, s_top).to(torch::kDouble).sum(2) / double(k);  // (L, R)
  const torch::Tensor mass = tg.gather(2, s_top).to(torch::kDouble).sum(2);                     // (L, R)
  const torch::Tensor hit_l = hit.sum(1), mass_l = mass.sum(1);
  for (int64_t l = 0; l < L; ++l) {
    recall_sum[size_t(l)] += hit_l[l].item<double>();
    mass_sum[size_t(l)] += mass_l[l].item<double>();
  }
  rows += int64_t(rows_v.size());
}

double TopKStats::mean_recall() const {
  double s = 0;
  for (size_t l = 0; l < recall_sum.size(); ++l) s += recall(l);
  return recall_sum.empty() ? NAN : s / double(recall_sum.size());
}

double TopKStats::mean_mass() const {
  double s = 0;
  for (size_t l = 0; l < mass_sum.size(); ++l) s += mass(l);
  return mass_sum.empty() ? NAN : s / double(mass_sum.size());
}

std::vector<double> TopKStats::recalls() const {
  std::vector<double> v;
  for (size_t l = 0; l < recall_sum.size(); ++l) v.push_back(recall(l));
  return v;
}

std::vector<double> TopKStats::masses() const {
  std::vector<double> v;
  for (size_t l = 0; l < mass_sum.size(); ++l) v.push_back(mass(l));
  return v;
}

PrecisionRecall CountBoundaries(const torch::Tensor& logits, const torch::Tensor& labels, double alpha) {
  const torch::Tensor pred = torch::sigmoid(logits) > alpha, gold = labels > 0.5;
  PrecisionRecall c;
  c.tp = (pred & gold).sum().item<int64_t>();
  c.fp = (pred & gold.logical_not()).sum().item<int64_t>();
  c.fn = (pred.logical_not() & gold).sum().item<int64_t>();
  return c;
}

}  // namespace chunkllm
