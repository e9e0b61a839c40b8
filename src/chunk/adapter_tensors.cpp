#include "chunk/adapter_tensors.h"

#include "core/error.h"
#include "ggml-cpu.h"

namespace chunkllm {

AdapterTensors::AdapterTensors(const AdapterSet& a) {
  const int L = int(a.layers.size()), D = a.base.n_embd, Da = a.hp.d_adapter, r = a.hp.rank;
  const int n = a.hp.boundary_inputs;
  block_rows_ = a.hp.chunk_hidden > 0 ? a.hp.chunk_hidden : 1;
  ggml_init_params params = {ggml_tensor_overhead() * size_t(4 * L + 1), nullptr, /*no_alloc=*/true};
  ctx_ = ggml_init(params);
  if (!ctx_) Fail("cannot create the adapters' ggml context");
  for (int l = 0; l < L; ++l) {
    w_.key_w1.push_back(ggml_new_tensor_2d(ctx_, GGML_TYPE_F32, D, Da));
    w_.key_w2.push_back(ggml_new_tensor_2d(ctx_, GGML_TYPE_F32, Da, r));
    w_.query_w1.push_back(ggml_new_tensor_2d(ctx_, GGML_TYPE_F32, D, Da));
    w_.query_w2.push_back(ggml_new_tensor_2d(ctx_, GGML_TYPE_F32, Da, r));
  }
  w_.boundary_w1 = ggml_new_tensor_2d(ctx_, GGML_TYPE_F32, D, int64_t(n) * block_rows_);
  buffer_ = ggml_backend_alloc_ctx_tensors_from_buft(ctx_, ggml_backend_cpu_buffer_type());
  if (!buffer_) Fail("cannot allocate memory for the adapters' tensors");
  ggml_backend_buffer_set_usage(buffer_, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
  auto set = [](ggml_tensor* t, const std::vector<float>& v) {
    if (v.size() != size_t(ggml_nelements(t))) Fail("adapter matrix of ", v.size(), " values, expected ", ggml_nelements(t));
    ggml_backend_tensor_set(t, v.data(), 0, ggml_nbytes(t));
  };
  for (int l = 0; l < L; ++l) {
    set(w_.key_w1[size_t(l)], a.layers[size_t(l)].k_w1);
    set(w_.key_w2[size_t(l)], a.layers[size_t(l)].k_w2);
    set(w_.query_w1[size_t(l)], a.layers[size_t(l)].q_w1);
    set(w_.query_w2[size_t(l)], a.layers[size_t(l)].q_w2);
  }
  // w1 is (Hc, n D) row-major; block k holds columns k D .. k D + D - 1 of every row.
  const std::vector<float>& w1 = a.chunk.w1;
  if (w1.size() != size_t(block_rows_) * size_t(n) * size_t(D)) Fail("Chunk Adapter W1 of ", w1.size(), " values");
  std::vector<float> stacked(w1.size());
  for (int k = 0; k < n; ++k)
    for (int i = 0; i < block_rows_; ++i)
      for (int e = 0; e < D; ++e)
        stacked[(size_t(k) * block_rows_ + size_t(i)) * size_t(D) + size_t(e)] =
            w1[size_t(i) * size_t(n) * size_t(D) + size_t(k) * size_t(D) + size_t(e)];
  set(w_.boundary_w1, stacked);
}

AdapterTensors::~AdapterTensors() {
  if (buffer_) ggml_backend_buffer_free(buffer_);
  if (ctx_) ggml_free(ctx_);
}

}  // namespace chunkllm
