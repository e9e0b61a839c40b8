#include "gguf_edit.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace chunkllm::test {

const GgufLayout::Kv& GgufLayout::kv(const std::string& key) const {
  for (const Kv& k : kvs) {
    if (k.key == key) return k;
  }
  ADD_FAILURE() << "no metadata key " << key;
  return kvs.at(0);
}

const GgufLayout::TensorInfo& GgufLayout::tensor(const std::string& name) const {
  for (const TensorInfo& t : tensors) {
    if (t.name == name) return t;
  }
  ADD_FAILURE() << "no tensor " << name;
  return tensors.at(0);
}

GgufLayout WalkGguf(const std::string& b) {
  size_t p = 0;
  auto u32 = [&] { uint32_t v; std::memcpy(&v, b.data() + p, 4); p += 4; return v; };
  auto u64 = [&] { uint64_t v; std::memcpy(&v, b.data() + p, 8); p += 8; return v; };
  auto str = [&] { const uint64_t n = u64(); std::string s = b.substr(p, n); p += n; return s; };
  auto scalar_size = [](uint32_t type) -> size_t {
    switch (type) {
      case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
      case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
      case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
      default: return 8;
    }
  };
  GgufLayout l;
  p = 8;  // magic, version
  const uint64_t n_tensors = u64(), n_kv = u64();
  for (uint64_t i = 0; i < n_kv; ++i) {
    GgufLayout::Kv kv;
    kv.begin = p;
    kv.key = str();
    kv.type = p;
    const uint32_t type = u32();
    kv.value = p;
    if (type == GGUF_TYPE_STRING) {
      str();
    } else if (type == GGUF_TYPE_ARRAY) {
      const uint32_t et = u32();
      const uint64_t n = u64();
      for (uint64_t k = 0; k < n; ++k) {
        if (et == GGUF_TYPE_STRING) str();
        else p += scalar_size(et);
      }
    } else {
      p += scalar_size(type);
    }
    kv.end = p;
    l.kvs.push_back(kv);
  }
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufLayout::TensorInfo t;
    t.begin = p;
    t.name = str();
    const uint32_t n_dims = u32();
    t.ne = p;
    p += 8 * n_dims;
    t.type = p;
    p += 4;
    t.offset = p;
    t.data_offset = u64();
    t.end = p;
    l.tensors.push_back(t);
  }
  l.data = (p + 31) / 32 * 32;  // GGUF's default alignment
  return l;
}

void RewriteGguf(const std::string& src, const std::string& dst, const GgufEdits& e) {
  ggml_context* data = nullptr;
  gguf_init_params ip = {/*no_alloc=*/false, &data};
  gguf_context* in = gguf_init_from_file(src.c_str(), ip);
  ASSERT_NE(in, nullptr) << src;
  gguf_context* out = gguf_init_empty();
  gguf_set_kv(out, in);
  if (e.kv) e.kv(out);
  const int64_t n = gguf_get_n_tensors(in);
  ggml_init_params sp = {2 * ggml_get_mem_size(data) + size_t(n + 8) * ggml_tensor_overhead(), nullptr, false};
  ggml_context* scratch = ggml_init(sp);
  for (int64_t i = 0; i < n; ++i) {
    ggml_tensor* t = ggml_get_tensor(data, gguf_get_tensor_name(in, i));
    if (e.tensor) t = e.tensor(t, scratch);
    if (t) gguf_add_tensor(out, t);
  }
  const bool written = gguf_write_to_file(out, dst.c_str(), /*only_meta=*/false);
  gguf_free(out);
  gguf_free(in);
  ggml_free(data);
  ggml_free(scratch);
  ASSERT_TRUE(written) << dst;
}

GgufEdits ReplaceTensor(const std::string& name, ggml_type type, std::vector<int64_t> ne) {
  GgufEdits e;
  e.tensor = [=](ggml_tensor* t, ggml_context* scratch) -> ggml_tensor* {
    if (t->name != name) return t;
    ggml_tensor* r = ggml_new_tensor(scratch, type, int(ne.size()), ne.data());
    ggml_set_name(r, name.c_str());
    // The source's bytes, repeated: the new shape may hold more than the source did.
    const size_t have = ggml_nbytes(t), want = ggml_nbytes(r);
    for (size_t at = 0; at < want; at += have) {
      std::memcpy(static_cast<char*>(r->data) + at, t->data, std::min(have, want - at));
    }
    return r;
  };
  return e;
}

}  // namespace chunkllm::test
