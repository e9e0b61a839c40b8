#include "model/model_fingerprint.h"

#include <cstdio>
#include <memory>
#include <vector>

#include "core/error.h"
#include "model/gguf_file.h"

namespace chunkllm {
namespace {

struct Fnv1a64 {
  uint64_t h = 0xcbf29ce484222325ull;
  void Add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  }
  template <typename T>
  void AddValue(const T& v) { Add(&v, sizeof v); }
};

}  // namespace

std::string ModelFingerprint(const GgufFile& file) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(file.path().c_str(), "rb"), &std::fclose);
  if (!f) Fail(file.path(), ": cannot open to fingerprint");
  constexpr uint64_t kBlock = 4096, kSamples = 16;
  std::vector<unsigned char> buf(kBlock);
  Fnv1a64 hash;
  auto add_range = [&](uint64_t offset, uint64_t n) {
    if (fseeko(f.get(), off_t(offset), SEEK_SET) != 0 || std::fread(buf.data(), 1, size_t(n), f.get()) != n) {
      Fail(file.path(), ": cannot read tensor data at byte ", offset, " to fingerprint");
    }
    hash.Add(buf.data(), size_t(n));
  };
  for (const GgufTensorInfo& t : file.tensors()) {
    hash.Add(t.name.data(), t.name.size());
    hash.AddValue(int32_t(t.type));
    for (int d = 0; d < GGML_MAX_DIMS; ++d) hash.AddValue(t.ne[d]);
    if (t.nbytes <= kBlock * (kSamples + 2)) {
      for (uint64_t o = 0; o < t.nbytes; o += kBlock) add_range(t.offset + o, std::min(kBlock, t.nbytes - o));
      continue;
    }
    add_range(t.offset, kBlock);
    for (uint64_t i = 1; i <= kSamples; ++i) add_range(t.offset + (t.nbytes - kBlock) * i / (kSamples + 1), kBlock);
    add_range(t.offset + t.nbytes - kBlock, kBlock);
  }
  char out[32];
  std::snprintf(out, sizeof out, "fnv1a64:%016llx", (unsigned long long)hash.h);
  return out;
}

}  // namespace chunkllm
