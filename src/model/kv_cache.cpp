#include "model/kv_cache.h"

#include <atomic>

#include "core/error.h"
#include "core/memory_limit.h"
#include "ggml-cpu.h"

namespace chunkllm {

ggml_type KvTypeFromName(const std::string& name) {
  if (name == "f16") return GGML_TYPE_F16;
  if (name == "f32") return GGML_TYPE_F32;
  if (name == "q8_0") return GGML_TYPE_Q8_0;
  Fail("invalid KV cache type '", name, "' (expected f16, f32 or q8_0)");
}

KvCache::KvCache(const ModelConfig& c, int n_ctx, ggml_type type) : config_(c), n_ctx_(n_ctx), type_(type) {
  if (n_ctx <= 0) Fail("context size must be positive, got ", n_ctx);
  if (ggml_blck_size(type) > 1 && c.head_dim % ggml_blck_size(type) != 0) {
    Fail("KV cache type ", ggml_type_name(type), " needs a head dim that is a multiple of ",
         ggml_blck_size(type), ", the model has ", c.head_dim);
  }
  Allocate();
}

namespace {

uint64_t NextUid() {
  static std::atomic<uint64_t> next{1};
  return next++;
}

}  // namespace

void KvCache::Allocate() {
  const ModelConfig& c = config_;
  uid_ = NextUid();
  CheckFitsInMemory(uint64_t(2) * uint64_t(c.n_layer) * ggml_row_size(type_, c.n_embd_kv()) * uint64_t(n_ctx_),
                    Str("a KV cache of ", n_ctx_, " positions (-c, ", ggml_type_name(type_), ")"));
  ggml_init_params params = {ggml_tensor_overhead() * size_t(2 * c.n_layer + 2), nullptr, true};
  ctx_ = ggml_init(params);
  k_.clear(), v_.clear();
  for (int il = 0; il < c.n_layer; ++il) {
    k_.push_back(ggml_new_tensor_2d(ctx_, type_, c.n_embd_kv(), n_ctx_));
    v_.push_back(ggml_new_tensor_2d(ctx_, type_, c.n_embd_kv(), n_ctx_));
    ggml_format_name(k_.back(), "cache_k_l%d", il);
    ggml_format_name(v_.back(), "cache_v_l%d", il);
  }
  buffer_ = ggml_backend_alloc_ctx_tensors_from_buft(ctx_, ggml_backend_cpu_buffer_type());
  if (!buffer_) {
    ggml_free(ctx_);
    ctx_ = nullptr;
    Fail("cannot allocate a KV cache of ", n_ctx_, " positions (", ggml_type_name(type_), ")");
  }
  // Zero it so that views past n_past never hold NaN bit patterns.
  ggml_backend_buffer_clear(buffer_, 0);
}

KvCache::~KvCache() {
  if (buffer_) ggml_backend_buffer_free(buffer_);
  if (ctx_) ggml_free(ctx_);
}

void KvCache::Release() {
  if (buffer_) ggml_backend_buffer_free(buffer_);
  buffer_ = nullptr;
}

void KvCache::Reacquire() {
  if (!released()) return;
  if (ctx_) ggml_free(ctx_);
  ctx_ = nullptr;
  n_past_ = 0;
  Allocate();
}

size_t KvCache::bytes() const { return buffer_ ? ggml_backend_buffer_get_size(buffer_) : 0; }

}  // namespace chunkllm
