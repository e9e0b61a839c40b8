#include "pretrain/torch_llama.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "pretrain/blocked_attention.h"
#include "pretrain/chunked_cross_entropy.h"
#include "model/gguf_file.h"
#include "model/model_writer.h"
#include "model/tensor_names.h"

namespace chunkllm {
namespace {

// bf16 (autocast) activations are widened to f32 for norms, RoPE and softmax; f32 and f64
// stay as they are (f64 is for the gradient checks).
torch::Tensor Wide(const torch::Tensor& x) { return x.scalar_type() == torch::kDouble ? x : x.to(torch::kFloat); }

// RMSNorm in at least f32: x (..., D), w (D).
torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& w, float eps) {
  const torch::Tensor xf = Wide(x);
  return (xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps)) * w;
}

// RoPE on adjacent pairs (x[2i], x[2i+1]) as ggml's NORMAL mode: x (B, T, h, Dh).
torch::Tensor Rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const auto s = x.sizes();
  const torch::Tensor xr = Wide(x).reshape({s[0], s[1], s[2], s[3] / 2, 2});
  const torch::Tensor x0 = xr.select(-1, 0), x1 = xr.select(-1, 1);
  const torch::Tensor c = cos.view({1, s[1], 1, s[3] / 2}), n = sin.view({1, s[1], 1, s[3] / 2});
  return torch::stack({x0 * c - x1 * n, x0 * n + x1 * c}, -1).reshape(s);
}

torch::nn::Linear Linear(torch::nn::Module& m, const char* name, int in, int out, double std, uint64_t& seed) {
  auto l = m.register_module(name, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)));
  torch::NoGradGuard ng;
  auto gen = at::detail::createCPUGenerator(seed++);
  l->weight.normal_(0.0, std, gen);
  return l;
}

}  // namespace

TorchBlockImpl::TorchBlockImpl(const TorchLlamaConfig& c) : c_(c) {}

torch::Tensor TorchBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t B = x.size(0), T = x.size(1);
  const int H = c_.shape.n_head, Hkv = c_.shape.n_head_kv, Dh = c_.shape.head_dim;
  const torch::Tensor h = RmsNorm(x, attn_norm, c_.shape.rms_eps);
  torch::Tensor q = Rope(wq(h).view({B, T, H, Dh}), cos, sin).transpose(1, 2);  // (B, H, T, Dh)
  torch::Tensor k = Rope(wk(h).view({B, T, Hkv, Dh}), cos, sin).transpose(1, 2);
  torch::Tensor v = wv(h).view({B, T, Hkv, Dh}).transpose(1, 2);  // (B, Hkv, T, Dh)
  // GQA: query head j reads KV head j / (H / Hkv), as ggml's flash attention does.
  k = k.repeat_interleave(H / Hkv, 1);
  v = v.repeat_interleave(H / Hkv, 1);
  const int64_t rows =
      std::min<int64_t>(c_.attn_block, std::max<int64_t>(16, c_.attn_block_elements / std::max<int64_t>(1, B * H * T)));
  const torch::Tensor o =
      BlockedCausalAttention(q, k, v, 1.0 / std::sqrt(double(Dh)), rows).transpose(1, 2).reshape({B, T, H * Dh});
  const torch::Tensor x1 = x + wo(o);
  const torch::Tensor n = RmsNorm(x1, ffn_norm, c_.shape.rms_eps);
  return x1 + ffn_down(torch::silu(ffn_gate(n)) * ffn_up(n));
}

TorchLlamaImpl::TorchLlamaImpl(const TorchLlamaConfig& c, uint64_t seed) : c_(c) {
  if (c.shape.arch != Arch::kLlama || c.shape.rope_scaling != "none") {
    Fail("pretraining builds arch llama without RoPE scaling");
  }
  if (c.shape.n_head % c.shape.n_head_kv != 0) Fail("n_head must be a multiple of n_head_kv");
  if (c.shape.head_dim % 2 != 0) Fail("head_dim must be even");
  const double std = 0.02, out_std = 0.02 / std::sqrt(2.0 * c.shape.n_layer);
  {
    torch::NoGradGuard ng;
    auto gen = at::detail::createCPUGenerator(seed++);
    tok_embd = register_parameter("tok_embd", torch::empty({c.n_vocab, c.shape.n_embd}).normal_(0.0, std, gen));
    output_norm = register_parameter("output_norm", torch::ones({c.shape.n_embd}));
  }
  for (int il = 0; il < c.shape.n_layer; ++il) {
    TorchBlock b(c);
    const int Q = c.shape.n_head * c.shape.head_dim, KV = c.shape.n_head_kv * c.shape.head_dim;
    b->wq = Linear(*b, "wq", c.shape.n_embd, Q, std, seed);
    b->wk = Linear(*b, "wk", c.shape.n_embd, KV, std, seed);
    b->wv = Linear(*b, "wv", c.shape.n_embd, KV, std, seed);
    b->wo = Linear(*b, "wo", Q, c.shape.n_embd, out_std, seed);
    b->ffn_gate = Linear(*b, "ffn_gate", c.shape.n_embd, c.shape.n_ff, std, seed);
    b->ffn_up = Linear(*b, "ffn_up", c.shape.n_embd, c.shape.n_ff, std, seed);
    b->ffn_down = Linear(*b, "ffn_down", c.shape.n_ff, c.shape.n_embd, out_std, seed);
    b->attn_norm = b->register_parameter("attn_norm", torch::ones({c.shape.n_embd}));
    b->ffn_norm = b->register_parameter("ffn_norm", torch::ones({c.shape.n_embd}));
    blocks.push_back(register_module("blk" + std::to_string(il), b));
  }
}

torch::Tensor TorchLlamaImpl::HiddenStates(const torch::Tensor& tokens) {
  const int64_t T = tokens.size(1);
  const torch::Tensor pos = torch::arange(T, torch::kFloat).unsqueeze(1);
  const torch::Tensor inv = torch::pow(double(c_.shape.rope_freq_base), -torch::arange(0, c_.shape.head_dim, 2, torch::kFloat) / c_.shape.head_dim);
  const torch::Tensor ang = pos * inv.unsqueeze(0);  // (T, Dh/2)
  const torch::Tensor cos = torch::cos(ang), sin = torch::sin(ang);
  torch::Tensor x = tok_embd.index_select(0, tokens.reshape(-1)).view({tokens.size(0), T, c_.shape.n_embd});
  for (auto& b : blocks) x = b->forward(x, cos, sin);
  return RmsNorm(x, output_norm, c_.shape.rms_eps);
}

torch::Tensor TorchLlamaImpl::forward(const torch::Tensor& tokens) {
  return torch::matmul(HiddenStates(tokens), tok_embd.t());  // tied output, (B, T, V)
}

torch::Tensor TorchLlamaImpl::Loss(const torch::Tensor& inputs, const torch::Tensor& targets, const torch::Tensor& weights) {
  const torch::Tensor h = HiddenStates(inputs).reshape({-1, c_.shape.n_embd});
  return ChunkedCrossEntropy(h, tok_embd, targets.reshape(-1), weights, c_.loss_rows);
}

torch::Tensor TokenRow(const std::vector<int32_t>& tokens, int64_t n) {
  torch::Tensor x = torch::empty({1, n}, torch::kLong);
  auto a = x.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) a[0][i] = tokens[size_t(i)];
  return x;
}

uint64_t TorchLlamaImpl::n_params() const {
  uint64_t n = 0;
  for (const auto& p : parameters()) n += uint64_t(p.numel());
  return n;
}

void TorchLlamaImpl::ForEachGgufTensor(const std::function<void(TensorRole, int, const torch::Tensor&)>& f) const {
  f(TensorRole::kTokenEmbd, -1, tok_embd);
  f(TensorRole::kOutputNorm, -1, output_norm);
  for (int il = 0; il < c_.shape.n_layer; ++il) {
    const auto& b = blocks[size_t(il)];
    f(TensorRole::kAttnNorm, il, b->attn_norm);
    f(TensorRole::kAttnQ, il, b->wq->weight);
    f(TensorRole::kAttnK, il, b->wk->weight);
    f(TensorRole::kAttnV, il, b->wv->weight);
    f(TensorRole::kAttnOut, il, b->wo->weight);
    f(TensorRole::kFfnNorm, il, b->ffn_norm);
    f(TensorRole::kFfnGate, il, b->ffn_gate->weight);
    f(TensorRole::kFfnUp, il, b->ffn_up->weight);
    f(TensorRole::kFfnDown, il, b->ffn_down->weight);
  }
}

void TorchLlamaImpl::ExportGguf(const std::string& path, const std::string& vocab_path, const std::string& name) const {
  ModelWriter w(c_.shape, vocab_path, name);
  if (w.n_vocab() != c_.n_vocab) Fail(vocab_path, ": vocab has ", w.n_vocab(), " tokens, the model ", c_.n_vocab);
  // torch Linear weights are (out, in) row-major, which is ggml's [in, out] (ne0 = in).
  auto add = [&](TensorRole role, int layer, const torch::Tensor& t, bool matrix) {
    const torch::Tensor f = t.detach().to(torch::kFloat).contiguous();
    std::vector<int64_t> ne;
    for (int64_t d = f.dim() - 1; d >= 0; --d) ne.push_back(f.size(d));
    w.AddTensor(TensorName(role, layer), ne, matrix ? GGML_TYPE_F16 : GGML_TYPE_F32, f.data_ptr<float>());
  };
  ForEachGgufTensor([&](TensorRole role, int layer, const torch::Tensor& t) { add(role, layer, t, t.dim() >= 2); });
  w.Write(path);
}

void TorchLlamaImpl::ImportGguf(const std::string& path) {
  const GgufFile file = GgufFile::Open(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(path, ": cannot open");
  if (file.FindString("general.architecture").value_or("") != "llama") Fail(path, ": not a llama model");
  // Heads and RoPE base are not visible in the tensor shapes: compare them from the metadata.
  const int64_t heads = file.FindInt("llama.attention.head_count").value_or(-1);
  const int64_t heads_kv = file.FindInt("llama.attention.head_count_kv").value_or(heads);
  const float rope_base = file.FindFloat("llama.rope.freq_base").value_or(10000.0f);
  if (heads != c_.shape.n_head || heads_kv != c_.shape.n_head_kv || rope_base != c_.shape.rope_freq_base) {
    Fail(path, ": heads ", heads, "/", heads_kv, ", RoPE base ", rope_base, "; the model being trained has ",
         c_.shape.n_head, "/", c_.shape.n_head_kv, ", ", c_.shape.rope_freq_base);
  }
  // The ggml shape of a torch tensor is its sizes reversed (see ExportGguf).
  auto load = [&](TensorRole role, int layer, const torch::Tensor& t) {
    const std::string name = TensorName(role, layer);
    const GgufTensorInfo* info = file.FindTensor(name);
    if (!info) Fail(path, ": no tensor '", name, "' (not a model of this shape)");
    for (int64_t d = 0; d < t.dim(); ++d) {
      if (info->ne[d] != t.size(t.dim() - 1 - d) || info->n_dims != t.dim()) {
        Fail(path, ": tensor '", name, "' has another shape than the model being trained (compare the shape flags)");
      }
    }
    const auto* traits = ggml_get_type_traits(info->type);
    if (!traits->to_float && info->type != GGML_TYPE_F32) Fail(path, ": tensor '", name, "' has a type that cannot be read");
    std::vector<char> raw(info->nbytes);
    in.seekg(std::streamoff(info->offset));
    if (!in.read(raw.data(), std::streamsize(raw.size()))) Fail(path, ": cannot read tensor '", name, "'");
    torch::Tensor f = torch::empty(t.sizes(), torch::kFloat);
    if (info->type == GGML_TYPE_F32) {
      std::memcpy(f.data_ptr<float>(), raw.data(), raw.size());
    } else {
      traits->to_float(raw.data(), f.data_ptr<float>(), f.numel());
    }
    torch::NoGradGuard ng;
    t.copy_(f);
  };
  ForEachGgufTensor(load);
  if (const GgufTensorInfo* extra = file.FindTensor(TensorName(TensorRole::kOutput, -1))) {
    Fail(path, ": has a separate output matrix '", extra->name, "'; the trained model ties it to the embeddings");
  }
}

}  // namespace chunkllm
