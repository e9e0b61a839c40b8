// KvCache: per-layer K and V for every position of a session.
//
// Layout: K and V of layer l are each one 2-D tensor [Hkv*Dh, n_ctx] (ggml order: the row
// of one position holds all its KV heads). A run of positions [p, p+n) is therefore one
// contiguous block per layer, which is what chunk gathering and eviction want. Attention
// views it as [Dh, n_kv, Hkv] with strides (row = Hkv*Dh elements, head = Dh elements).
// V is stored untransposed, as flash attention reads it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "model/model_config.h"

namespace chunkllm {

// "f16" | "f32" | "q8_0" -> ggml type; throws Error naming the flag otherwise.
ggml_type KvTypeFromName(const std::string& name);

class KvCache {
 public:
  KvCache(const ModelConfig& config, int n_ctx, ggml_type type);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  ggml_tensor* k(int layer) const { return k_[layer]; }  // [Hkv*Dh, n_ctx]
  ggml_tensor* v(int layer) const { return v_[layer]; }  // [Hkv*Dh, n_ctx]
  int n_ctx() const { return n_ctx_; }
  ggml_type type() const { return type_; }
  size_t bytes() const;  // allocated (0 once released)
  // Bytes one position takes in one layer (its K row plus its V row).
  size_t bytes_per_row() const { return 2 * ggml_row_size(type_, config_.n_embd_kv()); }

  // Gives the memory back (an evicting policy keeps only its own gathered rows); k() and v()
  // must not be read or written afterwards. n_past keeps counting positions seen.
  void Release();
  bool released() const { return buffer_ == nullptr; }
  // After Release: allocates the cache again, empty (n_past 0), with new k() and v() tensors.
  void Reacquire();

  // Differs for every allocation of any cache in the process (a new cache, or Reacquire): graphs
  // built over k() and v() key on it, since a new cache may land at a freed one's address.
  uint64_t uid() const { return uid_; }

  // Positions [0, n_past) hold valid K/V.
  int n_past() const { return n_past_; }
  void set_n_past(int n) { n_past_ = n; }

 private:
  void Allocate();  // the tensors and buffer of config_, n_ctx_, type_

  ModelConfig config_;
  int n_ctx_;
  ggml_type type_;
  int n_past_ = 0;
  uint64_t uid_ = 0;
  ggml_context* ctx_ = nullptr;
  ggml_backend_buffer_t buffer_ = nullptr;
  std::vector<ggml_tensor*> k_, v_;
};

}  // namespace chunkllm
