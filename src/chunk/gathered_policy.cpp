#include "chunk/gathered_policy.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace chunkllm {

GatheredPolicy::GatheredPolicy(const ModelConfig& c, bool evict)
    : config_(c), n_layer_(c.n_layer), evict_(evict), positions_(size_t(c.n_layer)), last_read_(size_t(c.n_layer)) {}

void GatheredPolicy::BeginBatch(int pos0, int n, const int32_t* tokens) {
  sparse_batch_ = false;
  OnBeginBatch(pos0, n, tokens);
  decode_gathered_ = n == 1 && active_;
  if (n != 1) return;
  for (int l = 0; l < n_layer_; ++l) {
    if (active_) last_read_[size_t(l)] = positions_[size_t(l)]; else last_read_[size_t(l)].clear();
  }
  // Statistics of this decode step: positions read (mean over layers), cached, resident.
  double read = pos0 + 1, resident = pos0 + 1;
  if (active_) {
    read = 0;
    for (const auto& p : positions_) read += double(p.size() + 1) / double(n_layer_);
    if (!keeps_full_cache()) resident = read;
  }
  stats_.decode_steps += 1;
  stats_.attended_sum += read;
  stats_.cached_sum += pos0 + 1;
  stats_.resident_sum += resident;
  if (active_) EnsureCapacity(gathered_rows(0) + 1);
}

void GatheredPolicy::EndBatch(const SequenceGraph& g, int pos0, int n) {
  n_past_ = pos0 + n;
  if (decode_gathered_) {
    for (auto& p : positions_) p.push_back(pos0);  // the graph wrote its row at p.size()
  } else if (active_ && n > 1) {
    Fail(name(), ": a prefill after decoding started is not supported by sparse policies");
  }
  if (n > 1 && !sparse_batch_) {  // a dense prefill batch: every token read its causal past
    const double causal = double(n) * pos0 + double(n) * (n + 1) / 2;
    stats_.prefill_attended_sum += causal;
    stats_.prefill_causal_sum += causal;
  }
  OnEndBatch(g, pos0, n);
}

void GatheredPolicy::Truncate(int n) {
  if (n >= n_past_) return;
  if (full_ && full_->released()) Fail(name(), ": the full KV cache was evicted; the session cannot go back");
  for (auto& p : positions_) p.erase(std::lower_bound(p.begin(), p.end(), n), p.end());
  active_ = false;
  n_past_ = n;
  OnTruncate(n);
}

void GatheredPolicy::EnsureCapacity(int rows) {
  int need = rows + 1;
  for (const auto& p : positions_) need = std::max(need, int(p.size()) + 1);
  if (gathered_ && gathered_->n_ctx() >= need) return;
  auto bigger = std::make_unique<KvCache>(config_, GGML_PAD(need + need / 2 + 1, 256), full_ ? full_->type() : GGML_TYPE_F16);
  if (gathered_) {
    for (int l = 0; l < n_layer_; ++l)
      for (int r = 0; r < int(positions_[size_t(l)].size()); ++r) {
        const size_t row = gathered_->k(l)->nb[1];
        std::memcpy((char*)bigger->k(l)->data + row * r, (char*)gathered_->k(l)->data + row * r, row);
        std::memcpy((char*)bigger->v(l)->data + row * r, (char*)gathered_->v(l)->data + row * r, row);
      }
  }
  gathered_ = std::move(bigger);
}

SparsePrefillBatch GatheredPolicy::SparseBatch(int rows) {
  if (!full_) Fail(name(), ": policy used without a session");
  EnsureCapacity(rows);
  sparse_batch_ = true;
  stats_.sparse_prefill_batches += 1;
  return SparsePrefillBatch{gathered_.get(), rows};
}

void GatheredPolicy::GatherPrefillRows(int l, const std::vector<int>& pos, int pos0, int T) {
  if (int(pos.size()) > gathered_->n_ctx()) Fail(name(), ": ", pos.size(), " prefill rows for ", gathered_->n_ctx());
  for (size_t i = 0; i < pos.size(); ++i) CopyRow(*full_, pos[i], int(i), l, /*count=*/false);
  // Token i of the batch read the positions before pos0 and i + 1 of the batch's; layers' mean.
  const double before = double(std::lower_bound(pos.begin(), pos.end(), pos0) - pos.begin());
  stats_.prefill_attended_sum += (double(T) * before + double(T) * (T + 1) / 2) / n_layer_;
  if (l == 0) stats_.prefill_causal_sum += double(T) * pos0 + double(T) * (T + 1) / 2;
}

void GatheredPolicy::CopyRow(const KvCache& from, int from_row, int to_row, int l, bool count) {
  const size_t rk = from.k(l)->nb[1], rv = from.v(l)->nb[1];
  if (count) stats_.policy_read_bytes += double(rk + rv);
  std::memmove((char*)gathered_->k(l)->data + rk * to_row, (const char*)from.k(l)->data + rk * from_row, rk);
  std::memmove((char*)gathered_->v(l)->data + rv * to_row, (const char*)from.v(l)->data + rv * from_row, rv);
}

void GatheredPolicy::SetPositions(int l, const std::vector<int>& pos) {
  if (!full_) Fail(name(), ": policy used without a session");
  EnsureCapacity(int(pos.size()));
  std::vector<int>& cur = positions_[size_t(l)];
  if (full_->released()) {
    // Compaction in place: both lists ascending and pos a subset of cur, so the target row
    // never passes the source row.
    size_t j = 0;
    for (size_t i = 0; i < pos.size(); ++i) {
      while (j < cur.size() && cur[j] < pos[i]) ++j;
      if (j == cur.size() || cur[j] != pos[i]) Fail(name(), ": position ", pos[i], " was evicted");
      CopyRow(*gathered_, int(j), int(i), l);
    }
  } else {
    for (size_t i = 0; i < pos.size(); ++i) {
      if (pos[i] < 0 || pos[i] >= n_past_) Fail(name(), ": position ", pos[i], " is not cached");
      CopyRow(*full_, pos[i], int(i), l);
    }
  }
  cur = pos;
  active_ = true;
  if (evict_ && l == n_layer_ - 1 && !full_->released()) full_->Release();
}

}  // namespace chunkllm
