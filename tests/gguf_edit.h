// Editing GGUF files by hand, for the tests that feed the engine broken or changed files (the
// corrupt-file suites, bad and hostile input, adapter refusals): a byte-level map of where each
// section of a file starts, to cut it or overwrite a field in place, and a copy through ggml's
// own writer with its metadata or tensors changed, for edits that keep the file well-formed.
#pragma once

#include <cstddef>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "ggml.h"
#include "gguf.h"

namespace chunkllm::test {

// Where each part of a GGUF (v3) file starts, as byte offsets into it (the format: llama.cpp's
// ggml/docs/gguf.md). Made from an intact file; the walk trusts its bytes.
struct GgufLayout {
  struct Kv {
    std::string key;
    size_t begin = 0, type = 0, value = 0, end = 0;  // key length field, type field, value, next pair
  };
  struct TensorInfo {
    std::string name;
    size_t begin = 0, ne = 0, type = 0, offset = 0, end = 0;  // name length field, dims, type, data offset, next
    uint64_t data_offset = 0;  // the offset field's value: where its data starts, from `data`
  };
  std::vector<Kv> kvs;
  std::vector<TensorInfo> tensors;
  size_t data = 0;  // first byte of the data section

  // The pair of `key`, the table entry of tensor `name` (a test failure and the first entry if
  // there is none).
  const Kv& kv(const std::string& key) const;
  const TensorInfo& tensor(const std::string& name) const;
};

GgufLayout WalkGguf(const std::string& bytes);

// Overwrites sizeof(T) bytes at `at` with v (little-endian, as GGUF stores it on x86).
template <typename T>
void PutAt(std::string& bytes, size_t at, T v) {
  std::memcpy(bytes.data() + at, &v, sizeof v);
}

// What RewriteGguf changes on the way; either may be empty.
struct GgufEdits {
  // Changes the copy's metadata (every key of the source already set).
  std::function<void(gguf_context*)> kv;
  // Called for each tensor of the source in order: returns it (its data may be changed in
  // place), nullptr to drop it, or a tensor made in `scratch` (room for twice the source's
  // data) to write in its place.
  std::function<ggml_tensor*(ggml_tensor* tensor, ggml_context* scratch)> tensor;
};

// Copies the GGUF file src to dst with `edits` applied (a test failure if src does not load).
void RewriteGguf(const std::string& src, const std::string& dst, const GgufEdits& edits);

// The common tensor edit: tensor `name` in another type and shape (ggml's ne), holding the
// source's bytes repeated to fill it.
GgufEdits ReplaceTensor(const std::string& name, ggml_type type, std::vector<int64_t> ne);

}  // namespace chunkllm::test
