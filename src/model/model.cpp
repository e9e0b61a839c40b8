#include "model/model.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "core/error.h"
#include "ggml-cpu.h"
#include "model/gguf_file.h"
#include "model/tensor_names.h"

namespace chunkllm {
namespace {

std::string ShapeString(const int64_t* ne, int n_dims) {
  std::string s = "[";
  for (int d = 0; d < n_dims; ++d) s += (d ? ", " : "") + std::to_string(ne[d]);
  return s + "]";
}

// Creates the metadata tensors for the expected weights, checking each against the file.
class WeightTable {
 public:
  WeightTable(const GgufFile& file, ggml_context* ctx) : file_(file), ctx_(ctx) {}

  // Returns the tensor for `role`, or null when it is optional and absent.
  ggml_tensor* Get(TensorRole role, int layer, std::initializer_list<int64_t> shape, bool required = true) {
    const std::string name = TensorName(role, layer);
    const GgufTensorInfo* info = file_.FindTensor(name);
    if (!info) {
      if (required) Fail(file_.path(), ": missing tensor '", name, "'");
      return nullptr;
    }
    const std::vector<int64_t> want(shape);
    int64_t want_ne[GGML_MAX_DIMS] = {1, 1, 1, 1};
    for (size_t d = 0; d < want.size(); ++d) want_ne[d] = want[d];
    bool same = true;
    for (int d = 0; d < GGML_MAX_DIMS; ++d) same = same && info->ne[d] == want_ne[d];
    if (!same) {
      Fail(file_.path(), ": tensor '", name, "' has shape ", ShapeString(info->ne, info->n_dims),
           ", expected ", ShapeString(want_ne, int(want.size())));
    }
    if (want.size() == 1 && info->type != GGML_TYPE_F32) {
      Fail(file_.path(), ": tensor '", name, "' has type ", ggml_type_name(info->type),
           ", expected f32 (norm weights and biases are f32)");
    }
    ggml_tensor* t = ggml_new_tensor(ctx_, info->type, int(want.size()), want_ne);
    ggml_set_name(t, name.c_str());
    offsets_[t] = info;
    return t;
  }

  const std::map<ggml_tensor*, const GgufTensorInfo*>& offsets() const { return offsets_; }

 private:
  const GgufFile& file_;
  ggml_context* ctx_;
  std::map<ggml_tensor*, const GgufTensorInfo*> offsets_;
};

void ReadTensorData(const std::string& path, const std::map<ggml_tensor*, const GgufTensorInfo*>& table) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) Fail(path, ": cannot open: ", std::strerror(errno));
  for (const auto& [t, info] : table) {
    char* dst = static_cast<char*>(t->data);
    uint64_t done = 0;
    while (done < info->nbytes) {
      const ssize_t n = pread(fd, dst + done, info->nbytes - done, off_t(info->offset + done));
      if (n <= 0) {
        close(fd);
        Fail(path, ": read of tensor '", info->name, "' failed at offset ", info->offset + done,
             n < 0 ? std::string(": ") + std::strerror(errno) : std::string(": unexpected end of file"));
      }
      done += uint64_t(n);
    }
  }
  close(fd);
}

}  // namespace

std::unique_ptr<Model> Model::Load(const std::string& path) {
  GgufFile file = GgufFile::Open(path);
  std::unique_ptr<Model> m(new Model());
  m->path_ = path;
  m->config_ = ModelConfig::FromGguf(file);
  const ModelConfig& c = m->config_;

  const size_t n_tensors_max = 8 + size_t(c.n_layer) * 16;
  ggml_init_params params = {ggml_tensor_overhead() * n_tensors_max, nullptr, /*no_alloc=*/true};
  m->ctx_ = ggml_init(params);
  if (!m->ctx_) Fail(path, ": out of memory creating the weight context");

  WeightTable table(file, m->ctx_);
  const int64_t D = c.n_embd, V = c.n_vocab, Q = c.n_embd_q(), KV = c.n_embd_kv(), F = c.n_ff;
  ModelWeights& w = m->weights_;
  w.tok_embd = table.Get(TensorRole::kTokenEmbd, -1, {D, V});
  w.output_norm = table.Get(TensorRole::kOutputNorm, -1, {D});
  w.output = table.Get(TensorRole::kOutput, -1, {D, V}, /*required=*/false);
  if (!w.output) w.output = w.tok_embd;
  w.rope_freqs = table.Get(TensorRole::kRopeFreqs, -1, {c.n_rot / 2}, /*required=*/false);
  w.layers.resize(c.n_layer);
  for (int il = 0; il < c.n_layer; ++il) {
    LayerWeights& l = w.layers[il];
    l.attn_norm = table.Get(TensorRole::kAttnNorm, il, {D});
    l.wq = table.Get(TensorRole::kAttnQ, il, {D, Q});
    l.wk = table.Get(TensorRole::kAttnK, il, {D, KV});
    l.wv = table.Get(TensorRole::kAttnV, il, {D, KV});
    l.wo = table.Get(TensorRole::kAttnOut, il, {Q, D});
    if (c.has_qkv_bias) {
      l.bq = table.Get(TensorRole::kAttnQBias, il, {Q});
      l.bk = table.Get(TensorRole::kAttnKBias, il, {KV});
      l.bv = table.Get(TensorRole::kAttnVBias, il, {KV});
    }
    if (c.has_qk_norm) {
      l.q_norm = table.Get(TensorRole::kAttnQNorm, il, {c.head_dim});
      l.k_norm = table.Get(TensorRole::kAttnKNorm, il, {c.head_dim});
    }
    l.ffn_norm = table.Get(TensorRole::kFfnNorm, il, {D});
    l.ffn_gate = table.Get(TensorRole::kFfnGate, il, {D, F});
    l.ffn_up = table.Get(TensorRole::kFfnUp, il, {D, F});
    l.ffn_down = table.Get(TensorRole::kFfnDown, il, {F, D});
  }

  m->buffer_ = ggml_backend_alloc_ctx_tensors_from_buft(m->ctx_, ggml_backend_cpu_buffer_type());
  if (!m->buffer_) Fail(path, ": cannot allocate memory for the weights");
  ggml_backend_buffer_set_usage(m->buffer_, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
  ReadTensorData(path, table.offsets());

  std::map<ggml_type, size_t> bytes_by_type;
  for (const auto& [t, info] : table.offsets()) {
    m->weight_bytes_ += info->nbytes;
    m->n_params_ += uint64_t(ggml_nelements(t));
    bytes_by_type[t->type] += info->nbytes;
  }
  size_t best = 0;
  for (const auto& [type, bytes] : bytes_by_type) {
    if (bytes > best) best = bytes, m->main_type_ = type;
  }
  return m;
}

Model::~Model() {
  if (buffer_) ggml_backend_buffer_free(buffer_);
  if (ctx_) ggml_free(ctx_);
}

}  // namespace chunkllm
