#include "model/ggml_type_name.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace chunkllm {

ggml_type GgmlTypeFromName(const std::string& name, const std::string& what) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
  };
  for (int t = 0; t < GGML_TYPE_COUNT; ++t) {
    const char* n = ggml_type_name(ggml_type(t));
    if (n && ggml_get_type_traits(ggml_type(t))->blck_size > 0 && lower(n) == lower(name)) return ggml_type(t);
  }
  Fail(what, ": unknown ggml type '", name, "' (e.g. f32, f16, bf16, q8_0, q4_0, q4_K, q6_K)");
}

}  // namespace chunkllm
