#include "model/gguf_file.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "core/file_util.h"

namespace chunkllm {
namespace {

// ggml's GGUF reader reports why it failed through the ggml log; we capture those lines
// while it runs so the Error we throw can say why, not just "failed".
std::mutex g_log_mutex;
std::string* g_captured_log = nullptr;

void CaptureLog(ggml_log_level level, const char* text, void*) {
  if (g_captured_log && (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN ||
                         level == GGML_LOG_LEVEL_CONT)) {
    g_captured_log->append(text);
  }
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A bounded walk over the header, metadata and tensor table ahead of ggml's reader, for what
// that reader does not check safely (undefined behaviour on hostile bytes, found by fuzzing):
// it stores a value type or tensor type into its enum before checking its range, and it
// multiplies a tensor's dimensions before checking that the product fits in 64 bits. Anything
// else malformed is left to ggml's reader and its messages: the walk just stops.
void PrecheckGgufLayout(const std::string& path, uint64_t file_size) {
  std::unique_ptr<FILE, int (*)(FILE*)> fp(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!fp) return;
  uint64_t pos = 0;
  auto read = [&](void* dst, uint64_t n) {
    if (n > file_size - pos || std::fread(dst, 1, size_t(n), fp.get()) != n) return false;
    pos += n;
    return true;
  };
  auto skip = [&](uint64_t n) {
    if (n > file_size - pos || fseeko(fp.get(), off_t(pos + n), SEEK_SET) != 0) return false;
    pos += n;
    return true;
  };
  auto u32 = [&](uint32_t& v) { return read(&v, 4); };
  auto u64 = [&](uint64_t& v) { return read(&v, 8); };
  auto skip_string = [&] {
    uint64_t n = 0;
    return u64(n) && skip(n);
  };
  std::string key;  // the key being read, for messages (its first 200 bytes)
  auto read_key = [&] {
    uint64_t n = 0;
    if (!u64(n)) return false;
    key.assign(size_t(std::min<uint64_t>(n, 200)), '\0');
    if (!read(key.data(), key.size()) || !skip(n - key.size())) return false;
    for (char& c : key) c = (c >= 32 && c < 127) ? c : '?';  // printable in a message
    return true;
  };
  auto check_type = [&](uint32_t type) {
    if (type >= GGUF_TYPE_COUNT) {
      Fail(path, ": corrupt metadata: key '", key, "' has value type ", type, ", which is not a GGUF type (0 to ",
           int(GGUF_TYPE_COUNT) - 1, ")");
    }
  };
  auto scalar_size = [](uint32_t type) -> uint64_t {
    switch (type) {
      case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
      case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
      case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
      case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
      default: return 0;
    }
  };
  uint32_t magic = 0, version = 0;
  uint64_t n_tensors = 0, n_kv = 0;
  if (!u32(magic) || !u32(version) || (version != 2 && version != 3) || !u64(n_tensors) || !u64(n_kv)) return;
  for (uint64_t i = 0; i < n_kv; ++i) {
    uint32_t type = 0;
    if (!read_key()) return;
    if (!u32(type)) {  // (ggml would compare its enum's out-of-range initial value)
      Fail(path, ": corrupt GGUF header or metadata: the file ends at byte ", file_size, ", inside metadata key '", key,
           "'");
    }
    check_type(type);
    if (type == GGUF_TYPE_STRING) {
      if (!skip_string()) return;
    } else if (type == GGUF_TYPE_ARRAY) {
      uint32_t et = 0;
      uint64_t n = 0;
      if (!u32(et)) return;
      check_type(et);
      if (!u64(n)) return;
      if (et == GGUF_TYPE_STRING) {
        if (n > (file_size - pos) / 8) return;
        for (uint64_t k = 0; k < n; ++k) {
          if (!skip_string()) return;
        }
      } else {
        const uint64_t size = scalar_size(et);
        if (size == 0 || n > (file_size - pos) / size || !skip(n * size)) return;
      }
    } else {
      const uint64_t size = scalar_size(type);
      if (size == 0 || !skip(size)) return;
    }
  }
  for (uint64_t i = 0; i < n_tensors; ++i) {
    uint64_t name_len = 0;
    uint32_t n_dims = 0;
    if (!u64(name_len) || name_len >= GGML_MAX_NAME) return;
    char name[GGML_MAX_NAME] = {};
    if (!read(name, name_len) || !u32(n_dims) || n_dims > GGML_MAX_DIMS) return;
    int64_t ne[GGML_MAX_DIMS] = {1, 1, 1, 1};
    int64_t count = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      if (!read(&ne[d], 8) || ne[d] < 0) return;
      if (__builtin_mul_overflow(count, ne[d], &count)) {
        std::string shape;
        for (uint32_t k = 0; k <= d; ++k) shape += (k ? ", " : "") + std::to_string(ne[k]);
        Fail(path, ": corrupt tensor table: tensor '", name, "' has shape [", shape, n_dims > d + 1 ? ", ..." : "",
             "], more elements than 64 bits can count");
      }
    }
    uint32_t type = 0;
    if (!u32(type)) return;
    if (type >= GGML_TYPE_COUNT) {
      Fail(path, ": corrupt tensor table: tensor '", name, "' has type ", type, ", which is not a ggml type (0 to ",
           int(GGML_TYPE_COUNT) - 1, ")");
    }
    if (!skip(8)) return;  // offset
  }
}

}  // namespace

GgufFile GgufFile::Open(const std::string& path) {
  GgufFile f;
  f.path_ = path;
  f.file_size_ = FileSize(path);

  FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) Fail(path, ": cannot open: ", std::strerror(errno));
  char magic[4] = {0, 0, 0, 0};
  const size_t got = std::fread(magic, 1, 4, fp);
  std::fclose(fp);
  if (got < 4) Fail(path, ": not a GGUF file: it is only ", f.file_size_, " bytes long");
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    std::string shown;
    for (char c : magic) shown += (c >= 32 && c < 127) ? c : '?';
    Fail(path, ": not a GGUF file: magic at offset 0 is '", shown, "', expected 'GGUF'");
  }

  PrecheckGgufLayout(path, f.file_size_);

  std::string log;
  {
    std::lock_guard<std::mutex> lock(g_log_mutex);
    g_captured_log = &log;
    ggml_log_set(CaptureLog, nullptr);
    gguf_init_params params = {/*no_alloc=*/true, /*ctx=*/nullptr};
    f.gguf_ = gguf_init_from_file(path.c_str(), params);
    ggml_log_set(nullptr, nullptr);
    g_captured_log = nullptr;
  }
  if (!f.gguf_) {
    Fail(path, ": corrupt GGUF header or metadata",
         log.empty() ? std::string() : ": " + Trim(log));
  }

  const uint64_t data_offset = gguf_get_data_offset(f.gguf_);
  const int64_t n = gguf_get_n_tensors(f.gguf_);
  for (int64_t i = 0; i < n; ++i) {
    GgufTensorInfo t;
    t.name = gguf_get_tensor_name(f.gguf_, i);
    t.type = gguf_get_tensor_type(f.gguf_, i);
    const int64_t* ne = gguf_get_tensor_ne(f.gguf_, i);
    t.n_dims = 1;
    for (int d = 0; d < GGML_MAX_DIMS; ++d) {
      t.ne[d] = ne[d];
      if (ne[d] != 1) t.n_dims = d + 1;
    }
    // Written so that no sum can wrap: ggml accepts offsets and sizes up to 2^64 - 1.
    const uint64_t relative = gguf_get_tensor_offset(f.gguf_, i);
    t.offset = relative > f.file_size_ ? UINT64_MAX : data_offset + relative;
    t.nbytes = gguf_get_tensor_size(f.gguf_, i);
    if (t.nbytes > f.file_size_ || t.offset > f.file_size_ - t.nbytes) {
      Fail(path, ": file is truncated: tensor '", t.name, "' needs ", t.nbytes, " bytes from offset ", t.offset,
           " but the file has ", f.file_size_, " bytes");
    }
    f.tensors_.push_back(std::move(t));
  }
  return f;
}

GgufFile::GgufFile(GgufFile&& o) noexcept { *this = std::move(o); }

GgufFile& GgufFile::operator=(GgufFile&& o) noexcept {
  if (this != &o) {
    if (gguf_) gguf_free(gguf_);
    path_ = std::move(o.path_);
    file_size_ = o.file_size_;
    gguf_ = o.gguf_;
    tensors_ = std::move(o.tensors_);
    o.gguf_ = nullptr;
  }
  return *this;
}

GgufFile::~GgufFile() {
  if (gguf_) gguf_free(gguf_);
}

int64_t GgufFile::KeyId(const std::string& key, bool required) const {
  const int64_t id = gguf_find_key(gguf_, key.c_str());
  if (id < 0 && required) Fail(path_, ": missing metadata key '", key, "'");
  return id;
}

bool GgufFile::Has(const std::string& key) const { return KeyId(key, false) >= 0; }

std::optional<int64_t> GgufFile::FindInt(const std::string& key) const {
  const int64_t id = KeyId(key, false);
  if (id < 0) return std::nullopt;
  switch (gguf_get_kv_type(gguf_, id)) {
    case GGUF_TYPE_UINT8: return gguf_get_val_u8(gguf_, id);
    case GGUF_TYPE_INT8: return gguf_get_val_i8(gguf_, id);
    case GGUF_TYPE_UINT16: return gguf_get_val_u16(gguf_, id);
    case GGUF_TYPE_INT16: return gguf_get_val_i16(gguf_, id);
    case GGUF_TYPE_UINT32: return gguf_get_val_u32(gguf_, id);
    case GGUF_TYPE_INT32: return gguf_get_val_i32(gguf_, id);
    case GGUF_TYPE_INT64: return gguf_get_val_i64(gguf_, id);
    case GGUF_TYPE_UINT64: {
      const uint64_t v = gguf_get_val_u64(gguf_, id);
      if (v > uint64_t(INT64_MAX)) Fail(path_, ": metadata key '", key, "' is out of range: ", v);
      return int64_t(v);
    }
    default:
      Fail(path_, ": metadata key '", key, "' should be an integer but is of type ",
           gguf_type_name(gguf_get_kv_type(gguf_, id)));
  }
}

std::optional<float> GgufFile::FindFloat(const std::string& key) const {
  const int64_t id = KeyId(key, false);
  if (id < 0) return std::nullopt;
  const gguf_type t = gguf_get_kv_type(gguf_, id);
  if (t == GGUF_TYPE_FLOAT32) return gguf_get_val_f32(gguf_, id);
  if (t == GGUF_TYPE_FLOAT64) return float(gguf_get_val_f64(gguf_, id));
  if (auto i = FindInt(key)) return float(*i);
  Fail(path_, ": metadata key '", key, "' should be a number");
}

std::optional<std::string> GgufFile::FindString(const std::string& key) const {
  const int64_t id = KeyId(key, false);
  if (id < 0) return std::nullopt;
  if (gguf_get_kv_type(gguf_, id) != GGUF_TYPE_STRING) {
    Fail(path_, ": metadata key '", key, "' should be a string but is of type ",
         gguf_type_name(gguf_get_kv_type(gguf_, id)));
  }
  return std::string(gguf_get_val_str(gguf_, id));
}

int64_t GgufFile::GetInt(const std::string& key) const {
  KeyId(key, true);
  return *FindInt(key);
}

float GgufFile::GetFloat(const std::string& key) const {
  KeyId(key, true);
  return *FindFloat(key);
}

std::string GgufFile::GetString(const std::string& key) const {
  KeyId(key, true);
  return *FindString(key);
}

std::vector<float> GgufFile::GetFloatArray(const std::string& key) const {
  const int64_t id = KeyId(key, true);
  if (gguf_get_kv_type(gguf_, id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(gguf_, id) != GGUF_TYPE_FLOAT32) {
    Fail(path_, ": metadata key '", key, "' should be an array of float32");
  }
  const size_t n = gguf_get_arr_n(gguf_, id);
  const float* p = static_cast<const float*>(gguf_get_arr_data(gguf_, id));
  return std::vector<float>(p, p + n);
}

size_t GgufFile::ArrayLength(const std::string& key) const {
  const int64_t id = KeyId(key, false);
  if (id < 0 || gguf_get_kv_type(gguf_, id) != GGUF_TYPE_ARRAY) return 0;
  return gguf_get_arr_n(gguf_, id);
}

const GgufTensorInfo* GgufFile::FindTensor(const std::string& name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

namespace {

std::string ScalarToString(gguf_type type, const void* p) {
  switch (type) {
    case GGUF_TYPE_UINT8: return std::to_string(*static_cast<const uint8_t*>(p));
    case GGUF_TYPE_INT8: return std::to_string(*static_cast<const int8_t*>(p));
    case GGUF_TYPE_UINT16: return std::to_string(*static_cast<const uint16_t*>(p));
    case GGUF_TYPE_INT16: return std::to_string(*static_cast<const int16_t*>(p));
    case GGUF_TYPE_UINT32: return std::to_string(*static_cast<const uint32_t*>(p));
    case GGUF_TYPE_INT32: return std::to_string(*static_cast<const int32_t*>(p));
    case GGUF_TYPE_UINT64: return std::to_string(*static_cast<const uint64_t*>(p));
    case GGUF_TYPE_INT64: return std::to_string(*static_cast<const int64_t*>(p));
    case GGUF_TYPE_FLOAT32: return Str(*static_cast<const float*>(p));
    case GGUF_TYPE_FLOAT64: return Str(*static_cast<const double*>(p));
    case GGUF_TYPE_BOOL: return *static_cast<const bool*>(p) ? "true" : "false";
    default: return "?";
  }
}

size_t ScalarSize(gguf_type type) {
  switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    default: return 8;
  }
}

std::string Quote(const std::string& s, size_t max_len = 60) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_len; ++i) {
    const char c = s[i];
    if (c == '\n') out += "\\n";
    else if (c == '"') out += "\\\"";
    else out += c;
  }
  if (s.size() > max_len) out += "...";
  return out + "\"";
}

}  // namespace

std::string GgufFile::ValueToString(int64_t id, size_t max_items) const {
  const gguf_type type = gguf_get_kv_type(gguf_, id);
  if (type == GGUF_TYPE_STRING) return Quote(gguf_get_val_str(gguf_, id));
  if (type != GGUF_TYPE_ARRAY) return ScalarToString(type, gguf_get_val_data(gguf_, id));
  const gguf_type et = gguf_get_arr_type(gguf_, id);
  const size_t n = gguf_get_arr_n(gguf_, id);
  std::string out = Str("[", gguf_type_name(et), " x ", n, "] [");
  for (size_t i = 0; i < n && i < max_items; ++i) {
    if (i) out += ", ";
    if (et == GGUF_TYPE_STRING) {
      out += Quote(gguf_get_arr_str(gguf_, id, i), 20);
    } else if (et == GGUF_TYPE_ARRAY) {
      out += "[...]";
    } else {
      const char* base = static_cast<const char*>(gguf_get_arr_data(gguf_, id));
      out += ScalarToString(et, base + i * ScalarSize(et));
    }
  }
  if (n > max_items) out += ", ...";
  return out + "]";
}

}  // namespace chunkllm
