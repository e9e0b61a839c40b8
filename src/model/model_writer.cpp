#include "model/model_writer.h"

#include <algorithm>

#include "core/error.h"
#include "core/file_util.h"
#include "gguf.h"
#include "model/gguf_file.h"

namespace chunkllm {

ModelShape DemoBackboneShape() {
  ModelShape s;
  s.arch = Arch::kLlama;
  s.n_embd = 384, s.n_layer = 8, s.n_head = 6, s.n_head_kv = 2, s.head_dim = 64, s.n_ff = 1024;
  s.n_ctx_train = 4096, s.rms_eps = 1e-5f, s.rope_freq_base = 10000.0f;
  return s;
}

ModelWriter::ModelWriter(const ModelShape& s, const std::string& vocab_path, const std::string& name) {
  GgufFile vocab = GgufFile::Open(vocab_path);
  n_vocab_ = int(vocab.ArrayLength("tokenizer.ggml.tokens"));
  if (n_vocab_ == 0) Fail(vocab_path, ": no tokenizer.ggml.tokens array (not a vocab GGUF)");
  gguf_ = gguf_init_empty();
  // Take every tokenizer.* key from the vocab file, nothing else.
  gguf_context* all = gguf_init_empty();
  gguf_set_kv(all, vocab.gguf());
  for (int64_t i = gguf_get_n_kv(all) - 1; i >= 0; --i) {
    const std::string key = gguf_get_key(all, i);
    if (key.rfind("tokenizer.", 0) != 0) gguf_remove_key(all, key.c_str());
  }
  gguf_set_kv(gguf_, all);
  gguf_free(all);

  const std::string a = ArchName(s.arch);
  auto u32 = [&](const std::string& k, int v) { gguf_set_val_u32(gguf_, (a + k).c_str(), uint32_t(v)); };
  auto f32 = [&](const std::string& k, float v) { gguf_set_val_f32(gguf_, (a + k).c_str(), v); };
  gguf_set_val_str(gguf_, "general.architecture", a.c_str());
  gguf_set_val_str(gguf_, "general.name", name.c_str());
  u32(".context_length", s.n_ctx_train);
  u32(".embedding_length", s.n_embd);
  u32(".block_count", s.n_layer);
  u32(".feed_forward_length", s.n_ff);
  u32(".attention.head_count", s.n_head);
  u32(".attention.head_count_kv", s.n_head_kv);
  u32(".attention.key_length", s.head_dim);
  u32(".attention.value_length", s.head_dim);
  f32(".attention.layer_norm_rms_epsilon", s.rms_eps);
  u32(".rope.dimension_count", s.head_dim);
  f32(".rope.freq_base", s.rope_freq_base);
  u32(".vocab_size", n_vocab_);
  if (s.rope_scaling != "none") {
    gguf_set_val_str(gguf_, (a + ".rope.scaling.type").c_str(), s.rope_scaling.c_str());
    f32(".rope.scaling.factor", s.rope_scaling_factor);
    u32(".rope.scaling.original_context_length", s.n_ctx_train);
  }
}

ModelWriter::~ModelWriter() {
  if (gguf_) gguf_free(gguf_);
  for (ggml_context* c : tensor_ctxs_) ggml_free(c);
}

void ModelWriter::SetString(const std::string& key, const std::string& value) {
  gguf_set_val_str(gguf_, key.c_str(), value.c_str());
}

void ModelWriter::AddTensor(const std::string& name, const std::vector<int64_t>& ne, ggml_type type,
                            const float* values) {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  if (ne.empty() || n <= 0) Fail("tensor '", name, "' has an empty shape");
  if (ne[0] % ggml_blck_size(type) != 0) {
    Fail("tensor '", name, "': type ", ggml_type_name(type), " needs rows that are a multiple of ",
         ggml_blck_size(type), " values, got ", ne[0]);
  }
  ggml_init_params ip = {ggml_row_size(type, ne[0]) * size_t(n / ne[0]) + ggml_tensor_overhead() + 64, nullptr, false};
  ggml_context* ctx = ggml_init(ip);
  if (!ctx) Fail("out of memory for tensor '", name, "'");
  tensor_ctxs_.push_back(ctx);
  ggml_tensor* t = ggml_new_tensor(ctx, type, int(ne.size()), ne.data());
  ggml_set_name(t, name.c_str());
  if (type == GGML_TYPE_F32) {
    std::copy(values, values + n, static_cast<float*>(t->data));
  } else if (type == GGML_TYPE_F16) {
    ggml_fp32_to_fp16_row(values, static_cast<ggml_fp16_t*>(t->data), n);
  } else if (type == GGML_TYPE_BF16) {
    ggml_fp32_to_bf16_row(values, static_cast<ggml_bf16_t*>(t->data), n);
  } else if (ggml_is_quantized(type) && !ggml_quantize_requires_imatrix(type)) {
    ggml_quantize_chunk(type, values, t->data, 0, n / ne[0], ne[0], nullptr);
  } else {
    Fail("weight type ", ggml_type_name(type), " cannot be written without an importance matrix");
  }
  gguf_add_tensor(gguf_, t);
}

void ModelWriter::Write(const std::string& path) {
  WriteFileAtomically(path, [&](const std::string& tmp) {
    if (!gguf_write_to_file(gguf_, tmp.c_str(), false)) Fail(path, ": cannot write the GGUF file");
  });
}

}  // namespace chunkllm
