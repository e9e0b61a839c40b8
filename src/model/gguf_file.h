// GgufFile: a validated, read-only view of a GGUF file's metadata and tensor table.
//
// Opening checks what ggml's reader would otherwise assert on or leave unsaid: the file
// exists, the magic is "GGUF", the header parses, and every tensor's data lies inside the
// file. Typed getters check the stored type, so a wrong-typed key is an Error naming the
// key, never an abort. Tensor data is not read here (see model.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ggml.h"
#include "gguf.h"

namespace chunkllm {

struct GgufTensorInfo {
  std::string name;
  ggml_type type;
  int n_dims;
  int64_t ne[GGML_MAX_DIMS];
  uint64_t offset;  // absolute byte offset of the tensor's data in the file
  uint64_t nbytes;
};

class GgufFile {
 public:
  // Throws Error with the path and the reason (missing, bad magic, truncated, ...).
  static GgufFile Open(const std::string& path);

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;
  ~GgufFile();

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  const gguf_context* gguf() const { return gguf_; }

  bool Has(const std::string& key) const;
  // Required getters: throw Error if the key is missing or has another type.
  // Integer getters accept any integer type whose value fits.
  int64_t GetInt(const std::string& key) const;
  float GetFloat(const std::string& key) const;
  std::string GetString(const std::string& key) const;
  std::vector<float> GetFloatArray(const std::string& key) const;
  // Optional getters: nullopt when the key is missing, Error when it has another type.
  std::optional<int64_t> FindInt(const std::string& key) const;
  std::optional<float> FindFloat(const std::string& key) const;
  std::optional<std::string> FindString(const std::string& key) const;
  // Number of elements of an array key (0 if missing).
  size_t ArrayLength(const std::string& key) const;

  // A human-readable rendering of any value (arrays are abbreviated), for `inspect`.
  std::string ValueToString(int64_t key_id, size_t max_items = 8) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(const std::string& name) const;

 private:
  GgufFile() = default;
  int64_t KeyId(const std::string& key, bool required) const;

  std::string path_;
  uint64_t file_size_ = 0;
  gguf_context* gguf_ = nullptr;
  std::vector<GgufTensorInfo> tensors_;
};

}  // namespace chunkllm
