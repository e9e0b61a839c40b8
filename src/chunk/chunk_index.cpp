#include "chunk/chunk_index.h"

#include <algorithm>

namespace chunkllm {

ChunkIndex::ChunkIndex(std::shared_ptr<const AdapterRuntime> adapters, int fixed_len)
    : adapters_(std::move(adapters)), n_layer_(adapters_->n_layer()), r_(adapters_->rank()), fixed_len_(fixed_len) {
  const AdapterHyperParams& hp = adapters_->hp();
  max_chunk_ = hp.max_chunk;
  delay_ = hp.boundary_delay;
  mean_key_ = hp.chunk_key == "mean";
  parts_width_ = hp.boundary_inputs * adapters_->tensors().boundary_block_rows();
  boundary_parts_.assign(size_t(hp.boundary_inputs) * size_t(parts_width_), 0.0f);
  keys_.resize(size_t(n_layer_));
  if (mean_key_) open_key_sum_.assign(size_t(n_layer_) * size_t(r_), 0.0f);
}

const float* ChunkIndex::BatchKey(int l, int row) const {
  return batch_keys_->data() + (size_t(l) * size_t(batch_rows_) + size_t(row)) * size_t(r_);
}

void ChunkIndex::RowKeys(int row, std::vector<float>& out) const {
  const size_t r = size_t(r_);
  out.resize(size_t(n_layer_) * r);
  for (int l = 0; l < n_layer_; ++l) std::copy(BatchKey(l, row), BatchKey(l, row) + r, out.data() + size_t(l) * r);
}

void ChunkIndex::PushBoundaryParts(int row) {
  const size_t w = size_t(parts_width_), size = boundary_parts_.size();
  std::copy(boundary_parts_.begin() + long(w), boundary_parts_.end(), boundary_parts_.begin());
  const float* src = batch_parts_->data() + size_t(row) * w;
  std::copy(src, src + w, boundary_parts_.data() + (size - w));
}

bool ChunkIndex::ClassifierEnds() const {
  return adapters_->BoundaryProbabilityFromParts(boundary_parts_.data()) > adapters_->hp().alpha;
}

void ChunkIndex::AddChunk(int end, const std::vector<float>& key_features) {
  chunk_end_.push_back(end);
  const size_t r = size_t(r_);
  for (int l = 0; l < n_layer_; ++l) {
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

void ChunkIndex::AccumulateKey(int row) {
  const size_t r = size_t(r_);
  for (int l = 0; l < n_layer_; ++l) {
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
bool ChunkIndex::CloseChunks(int row, int pos) {
  const bool fixed = fixed_len_ > 0;
  bool closed = false;
  if (!fixed) PushBoundaryParts(row);
  if (!fixed && delay_ == 1 && pos - 1 >= open_begin() && ClassifierEnds()) {
    // The boundary key is the K-Adapter output at the boundary token pos - 1: in this batch's
    // graph or, for a batch's first token, the row kept from the previous batch. (Mean keys:
    // the sums hold the chunk's tokens up to pos - 1.)
    if (row > 0 && !mean_key_) RowKeys(row - 1, prev_keys_);
    AddChunk(pos, prev_keys_);
    closed = true;
  }
  if (mean_key_) AccumulateKey(row);  // pos joins the open chunk
  const int open_len = pos + 1 - open_begin();
  const bool ends = fixed ? open_len >= fixed_len_ : open_len >= max_chunk_ || (delay_ == 0 && ClassifierEnds());
  if (ends) {
    if (!mean_key_) RowKeys(row, cur_keys_);
    AddChunk(pos + 1, cur_keys_);
    closed = true;
  }
  return closed;
}

int ChunkIndex::AddBatch(const std::vector<float>& keys, const std::vector<float>& parts, int pos0, int n) {
  batch_keys_ = &keys, batch_parts_ = &parts, batch_rows_ = n;
  int last_closing = -1;
  for (int i = 0; i < n; ++i)
    if (CloseChunks(i, pos0 + i)) last_closing = i;
  // The next batch's first token may close a chunk at this one, keyed by its features (boundary
  // keys; mean keys already hold it in the sums).
  if (delay_ > 0 && !mean_key_) RowKeys(n - 1, prev_keys_);
  batch_keys_ = batch_parts_ = nullptr;
  return last_closing;
}

void ChunkIndex::Clear() {
  chunk_end_.clear();
  for (auto& k : keys_) k.clear();
  prompt_end_ = {};
  prev_keys_.clear();
  std::fill(boundary_parts_.begin(), boundary_parts_.end(), 0.0f);
  std::fill(open_key_sum_.begin(), open_key_sum_.end(), 0.0f), open_key_count_ = 0;
}

void ChunkIndex::MarkPromptEnd(int n_past) {
  prompt_end_ = {n_past, chunk_end_.size(), prev_keys_, boundary_parts_, open_key_sum_, open_key_count_};
}

void ChunkIndex::RestorePromptEnd() {
  chunk_end_.resize(prompt_end_.n_chunks);
  for (auto& k : keys_) k.resize(prompt_end_.n_chunks * size_t(r_));
  prev_keys_ = prompt_end_.prev_keys;
  boundary_parts_ = prompt_end_.boundary_parts;
  open_key_sum_ = prompt_end_.open_key_sum, open_key_count_ = prompt_end_.open_key_count;
}

}  // namespace chunkllm
