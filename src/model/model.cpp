#include "model/model.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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

// How a weight is used decides where it lives: matrices that feed a matmul may go to a CPU
// extra buffer type (repacked layouts for quantized types) when that type supports the op.
enum class Use { kMatMul, kOther };

ggml_backend_dev_t CpuDevice() {
  ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  if (!dev) Fail("no CPU backend device");
  return dev;
}

// The CPU device's extra buffer types, best first (null-terminated list from ggml).
std::vector<ggml_backend_buffer_type_t> ExtraBufferTypes(ggml_backend_dev_t dev) {
  std::vector<ggml_backend_buffer_type_t> out;
  ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
  auto get = reinterpret_cast<ggml_backend_dev_get_extra_bufts_t>(
      ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts"));
  if (!get) return out;
  for (ggml_backend_buffer_type_t* b = get(dev); b && *b; ++b) out.push_back(*b);
  return out;
}

// Would `buft` run mul_mat(w, x) for a batch of 512? (The question libllama asks too.)
bool SupportsMatMul(ggml_backend_dev_t dev, ggml_backend_buffer_type_t buft, const GgufTensorInfo& info) {
  ggml_init_params params = {ggml_tensor_overhead() * 8, nullptr, true};
  ggml_context* ctx = ggml_init(params);
  ggml_tensor* w = ggml_new_tensor(ctx, info.type, 2, info.ne);
  ggml_tensor* x = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, w->ne[0], 512, w->ne[2], w->ne[3]);
  ggml_tensor* op = ggml_mul_mat(ctx, w, x);
  ggml_backend_buffer_t dummy = ggml_backend_buft_alloc_buffer(buft, 0);
  w->buffer = dummy;
  const bool ok = ggml_backend_dev_supports_op(dev, op);
  ggml_backend_buffer_free(dummy);
  ggml_free(ctx);
  return ok;
}

// Creates the metadata tensors for the expected weights, checking each against the file.
class WeightTable {
 public:
  WeightTable(const GgufFile& file, size_t max_tensors)
      : file_(file), dev_(CpuDevice()), extra_(ExtraBufferTypes(dev_)), max_tensors_(max_tensors) {}
  ~WeightTable() {
    for (auto& [buft, ctx] : contexts_) ggml_free(ctx);
  }
  // Hands the contexts to the caller (the table no longer frees them).
  std::vector<std::pair<ggml_backend_buffer_type_t, ggml_context*>> ReleaseContexts() {
    std::vector<std::pair<ggml_backend_buffer_type_t, ggml_context*>> out(contexts_.begin(), contexts_.end());
    contexts_.clear();
    return out;
  }

  // Returns the tensor for `role`, or null when it is optional and absent.
  ggml_tensor* Get(TensorRole role, int layer, std::initializer_list<int64_t> shape, Use use,
                   bool required = true) {
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
    // A matrix of a type the CPU cannot multiply (i16, i32, q8_1, ...) would abort in the
    // first matmul: refused here.
    if (info->type != GGML_TYPE_F32 && ggml_get_type_traits_cpu(info->type)->vec_dot == nullptr) {
      Fail(file_.path(), ": tensor '", name, "' has type ", ggml_type_name(info->type),
           ", which is not a weight type (f32, f16, bf16 or a quantized type the CPU multiplies)");
    }
    return Create(*info, int(want.size()), use);
  }

  // A second copy of an already listed tensor's data under another use (tied output).
  ggml_tensor* Duplicate(TensorRole role, Use use) {
    const GgufTensorInfo* info = file_.FindTensor(TensorName(role));
    return Create(*info, 2, use);
  }

  // True when the tensor landed in a CPU extra buffer type.
  bool IsRepacked(ggml_tensor* t) const { return buft_of_.at(t) != ggml_backend_cpu_buffer_type(); }

  const std::map<ggml_tensor*, const GgufTensorInfo*>& sources() const { return sources_; }
  const std::map<ggml_tensor*, ggml_backend_buffer_type_t>& buffer_types() const { return buft_of_; }

 private:
  ggml_context* ContextFor(ggml_backend_buffer_type_t buft) {
    auto it = contexts_.find(buft);
    if (it != contexts_.end()) return it->second;
    ggml_init_params params = {ggml_tensor_overhead() * max_tensors_, nullptr, /*no_alloc=*/true};
    ggml_context* ctx = ggml_init(params);
    if (!ctx) Fail(file_.path(), ": out of memory creating a weight context");
    contexts_[buft] = ctx;
    return ctx;
  }

  ggml_tensor* Create(const GgufTensorInfo& info, int n_dims, Use use) {
    ggml_backend_buffer_type_t buft = ggml_backend_cpu_buffer_type();
    if (use == Use::kMatMul) {
      for (ggml_backend_buffer_type_t extra : extra_) {
        if (SupportsMatMul(dev_, extra, info)) {
          buft = extra;
          break;
        }
      }
    }
    ggml_tensor* t = ggml_new_tensor(ContextFor(buft), info.type, n_dims, info.ne);
    ggml_set_name(t, info.name.c_str());
    sources_[t] = &info;
    buft_of_[t] = buft;
    return t;
  }

  const GgufFile& file_;
  ggml_backend_dev_t dev_;
  std::vector<ggml_backend_buffer_type_t> extra_;
  size_t max_tensors_;
  std::map<ggml_backend_buffer_type_t, ggml_context*> contexts_;
  std::map<ggml_tensor*, const GgufTensorInfo*> sources_;
  std::map<ggml_tensor*, ggml_backend_buffer_type_t> buft_of_;
};

// Decode streams every weight once per token: 2 MiB pages cut the TLB misses of that stream
// (Linux transparent huge pages in "madvise" mode need the hint). Called before the data is
// read in, so the pages are faulted in huge. A no-op where unsupported.
void AdviseHugePages(ggml_backend_buffer_t buf) {
#ifdef MADV_HUGEPAGE
  const size_t huge = size_t(2) << 20;
  const uintptr_t base = reinterpret_cast<uintptr_t>(ggml_backend_buffer_get_base(buf));
  const uintptr_t begin = (base + huge - 1) & ~(huge - 1);
  const uintptr_t end = (base + ggml_backend_buffer_get_size(buf)) & ~(huge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
}

// Reads each tensor's bytes from the file: straight into plain CPU memory, or through
// ggml_backend_tensor_set for extra buffer types, which repack on the way in.
void ReadTensorData(const std::string& path, const WeightTable& table) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) Fail(path, ": cannot open: ", std::strerror(errno));
  std::vector<char> staging;
  for (const auto& [t, info] : table.sources()) {
    const bool direct = !table.IsRepacked(t);
    if (!direct) staging.resize(info->nbytes);
    char* dst = direct ? static_cast<char*>(t->data) : staging.data();
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
    // A NaN or infinity in a weight poisons every logit (libllama checks the same way when
    // asked to); quantized blocks are checked through their scales.
    if (!ggml_validate_row_data(info->type, dst, info->nbytes)) {
      close(fd);
      Fail(path, ": tensor '", info->name, "' holds a non-finite value (NaN or infinity)");
    }
    if (!direct) ggml_backend_tensor_set(t, staging.data(), 0, info->nbytes);
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

  // block_count is the file's word, and every layer needs its own tensors: a count the tensor
  // table cannot back is refused before anything is sized by it.
  const uint64_t per_layer = 9 + (c.has_qkv_bias ? 3 : 0) + (c.has_qk_norm ? 2 : 0);
  const uint64_t needed = uint64_t(c.n_layer) * per_layer + 2;
  if (needed > file.tensors().size()) {
    Fail(path, ": metadata key '", c.arch_name, ".block_count' is ", c.n_layer, ": that many layers need at least ",
         needed, " tensors, but the file holds ", file.tensors().size());
  }
  WeightTable table(file, file.tensors().size() + 1);  // + a repacked copy of a tied output
  const int64_t D = c.n_embd, V = c.n_vocab, Q = c.n_embd_q(), KV = c.n_embd_kv(), F = c.n_ff;
  const Use mm = Use::kMatMul, other = Use::kOther;
  ModelWeights& w = m->weights_;
  w.tok_embd = table.Get(TensorRole::kTokenEmbd, -1, {D, V}, other);
  w.output_norm = table.Get(TensorRole::kOutputNorm, -1, {D}, other);
  w.output = table.Get(TensorRole::kOutput, -1, {D, V}, mm, /*required=*/false);
  m->tied_output_ = w.output == nullptr;
  if (m->tied_output_) {
    // Tied output: share the embedding unless the matmul wants a repacked copy.
    w.output = table.Duplicate(TensorRole::kTokenEmbd, mm);
    if (!table.IsRepacked(w.output)) w.output = w.tok_embd;
  }
  w.rope_freqs = table.Get(TensorRole::kRopeFreqs, -1, {c.n_rot / 2}, other, /*required=*/false);
  w.layers.resize(c.n_layer);
  for (int il = 0; il < c.n_layer; ++il) {
    LayerWeights& l = w.layers[il];
    l.attn_norm = table.Get(TensorRole::kAttnNorm, il, {D}, other);
    l.wq = table.Get(TensorRole::kAttnQ, il, {D, Q}, mm);
    l.wk = table.Get(TensorRole::kAttnK, il, {D, KV}, mm);
    l.wv = table.Get(TensorRole::kAttnV, il, {D, KV}, mm);
    l.wo = table.Get(TensorRole::kAttnOut, il, {Q, D}, mm);
    if (c.has_qkv_bias) {
      l.bq = table.Get(TensorRole::kAttnQBias, il, {Q}, other);
      l.bk = table.Get(TensorRole::kAttnKBias, il, {KV}, other);
      l.bv = table.Get(TensorRole::kAttnVBias, il, {KV}, other);
    }
    if (c.has_qk_norm) {
      l.q_norm = table.Get(TensorRole::kAttnQNorm, il, {c.head_dim}, other);
      l.k_norm = table.Get(TensorRole::kAttnKNorm, il, {c.head_dim}, other);
    }
    l.ffn_norm = table.Get(TensorRole::kFfnNorm, il, {D}, other);
    l.ffn_gate = table.Get(TensorRole::kFfnGate, il, {D, F}, mm);
    l.ffn_up = table.Get(TensorRole::kFfnUp, il, {D, F}, mm);
    l.ffn_down = table.Get(TensorRole::kFfnDown, il, {F, D}, mm);
  }

  // Every tensor of the file is a weight of this architecture: a tensor left over means the
  // metadata and the tensors disagree (libllama refuses such files too).
  std::map<std::string, bool> used;
  for (const auto& [t, info] : table.sources()) used[info->name] = true;
  for (const GgufTensorInfo& t : file.tensors()) {
    if (used.count(t.name)) continue;
    int layer = -1;
    if (std::sscanf(t.name.c_str(), "blk.%d.", &layer) == 1 && layer >= c.n_layer) {
      Fail(path, ": tensor '", t.name, "' belongs to layer ", layer, ", but metadata key '", c.arch_name,
           ".block_count' says the model has ", c.n_layer, " layers");
    }
    Fail(path, ": unexpected tensor '", t.name, "': not a weight of a ", c.arch_name, " model with these hyper-parameters");
  }

  for (const auto& [buft, ctx] : table.ReleaseContexts()) {
    m->contexts_.push_back(ctx);
    if (!ggml_get_first_tensor(ctx)) continue;
    ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(ctx, buft);
    if (!buf) Fail(path, ": cannot allocate memory for the weights (", ggml_backend_buft_name(buft), ")");
    ggml_backend_buffer_set_usage(buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    AdviseHugePages(buf);
    m->buffers_.push_back(buf);
  }
  ReadTensorData(path, table);

  std::map<ggml_type, size_t> bytes_by_type;
  for (const auto& [t, info] : table.sources()) {
    if (m->tied_output_ && t == w.output) continue;  // a repacked copy, not another parameter
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
  for (ggml_backend_buffer_t b : buffers_) ggml_backend_buffer_free(b);
  for (ggml_context* c : contexts_) ggml_free(c);
}

}  // namespace chunkllm
