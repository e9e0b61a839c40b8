// ChunkIndex: the chunks of one sequence as they close, and each layer's key of every completed
// chunk (docs/method.md, "Chunk boundaries" and "Chunk keys"). It is fed each batch's adapter
// products from the forward graph (chunk/adapter_graph.h): the K-Adapter features (L, n, r) and
// the Chunk Adapter's boundary parts (n, n Hc) of its n tokens.
//
// A token ends a chunk when the Chunk Adapter says so (p > alpha; with a boundary delay of 1 from
// the window that ends at the next token, so the chunk closes one token later) or when its chunk
// reaches max_chunk tokens; with fixed-length chunks (chunk-fixed), every chunk_len tokens. A
// chunk's key is its boundary token's features or, with mean keys, the mean over its tokens.
//
// It keeps what it needs to go back to the end of the latest prompt (MarkPromptEnd), where bench
// and eval repeat decodes from: the chunks after it are dropped and the open chunk's state
// restored.
#pragma once

#include <memory>
#include <vector>

#include "chunk/adapter_runtime.h"

namespace chunkllm {

class ChunkIndex {
 public:
  // fixed_len > 0: chunks of fixed_len tokens and no Chunk Adapter.
  ChunkIndex(std::shared_ptr<const AdapterRuntime> adapters, int fixed_len);

  // The batch's n tokens at positions [pos0, pos0 + n), with their features keys (L, n, r) and
  // boundary parts (n, n Hc; unused with fixed-length chunks): closes the chunks they end.
  // Returns the batch's latest row at which a chunk closed, or -1.
  int AddBatch(const std::vector<float>& keys, const std::vector<float>& parts, int pos0, int n);

  // Chunk c covers positions [chunk_begin(c), chunk_end(c)); the open chunk starts at open_begin().
  int n_chunks() const { return int(chunk_end_.size()); }
  int chunk_begin(int c) const { return c == 0 ? 0 : chunk_end_[size_t(c - 1)]; }
  int chunk_end(int c) const { return chunk_end_[size_t(c)]; }
  int open_begin() const { return chunk_end_.empty() ? 0 : chunk_end_.back(); }
  const std::vector<float>& keys(int layer) const { return keys_[size_t(layer)]; }  // (C, r)
  const AdapterRuntime& adapters() const { return *adapters_; }

  // Forgets everything (a new sequence).
  void Clear();
  // Remembers the state after the prompt's last token at position n_past - 1.
  void MarkPromptEnd(int n_past);
  // Where MarkPromptEnd was called (-1: never since the last Clear).
  int prompt_end() const { return prompt_end_.n_past; }
  // Back to the state MarkPromptEnd remembered.
  void RestorePromptEnd();

 private:
  // Layer l's features of row `row` of the batch (r floats in the batch's keys).
  const float* BatchKey(int l, int row) const;
  // Row `row`'s features of every layer, (L, r).
  void RowKeys(int row, std::vector<float>& out) const;
  // Shifts row `row`'s boundary parts (the next token in order) into boundary_parts_.
  void PushBoundaryParts(int row);
  // Whether the Chunk Adapter, on boundary_parts_, says its token ends a chunk.
  bool ClassifierEnds() const;
  // Row `row` of the batch, at position pos: closes the chunks that end with it.
  bool CloseChunks(int row, int pos);
  // Appends the chunk ending before `end`, keyed by its last token's features (L, r) (boundary
  // keys) or by the mean of its tokens' features (mean keys: open_key_sum_).
  void AddChunk(int end, const std::vector<float>& key_features);
  // Mean keys: adds row `row`'s features to the open chunk's sums.
  void AccumulateKey(int row);

  std::shared_ptr<const AdapterRuntime> adapters_;
  int n_layer_, r_;
  int fixed_len_;                            // > 0: chunk-fixed
  int max_chunk_;
  int delay_;                                // the Chunk Adapter's boundary delay (0 or 1)
  bool mean_key_;                            // chunk_key mean: a chunk's key is its tokens' mean
  int parts_width_;                          // n Hc: boundary parts of one token
  std::vector<int> chunk_end_;               // one past each completed chunk's last token
  std::vector<std::vector<float>> keys_;     // per layer: (C, r) chunk keys
  const std::vector<float>* batch_keys_ = nullptr;   // (L, batch_rows_, r), during AddBatch
  const std::vector<float>* batch_parts_ = nullptr;  // (batch_rows_, n Hc), during AddBatch
  int batch_rows_ = 0;
  std::vector<float> prev_keys_;             // (L, r) features of the latest token (boundary keys, delay 1)
  std::vector<float> open_key_sum_;          // mean keys: (L, r) sum of the open chunk's features
  int open_key_count_ = 0;                   // mean keys: tokens in open_key_sum_
  // (n, n Hc) the Chunk Adapter's input after the latest token: the boundary parts of the last
  // n = boundary_inputs tokens, oldest first, zeros before position 0.
  std::vector<float> boundary_parts_;
  std::vector<float> cur_keys_;              // scratch: (L, r)
  struct PromptEnd {                         // the open chunk's state after the latest prompt
    int n_past = -1;
    size_t n_chunks = 0;
    std::vector<float> prev_keys, boundary_parts, open_key_sum;
    int open_key_count = 0;
  } prompt_end_;
};

}  // namespace chunkllm
