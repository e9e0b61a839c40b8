#include "app/inspect.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/gguf_file.h"

namespace chunkllm {

std::string InspectGguf(const std::string& path, bool json) {
  GgufFile f = GgufFile::Open(path);
  const gguf_context* g = f.gguf();
  if (json) {
    nlohmann::json out;
    out["path"] = path;
    out["version"] = gguf_get_version(g);
    out["file_size"] = f.file_size();
    nlohmann::json& meta = out["metadata"] = nlohmann::json::object();
    for (int64_t i = 0; i < gguf_get_n_kv(g); ++i) meta[gguf_get_key(g, i)] = f.ValueToString(i, 16);
    nlohmann::json& tensors = out["tensors"] = nlohmann::json::array();
    for (const auto& t : f.tensors()) {
      tensors.push_back({{"name", t.name},
                         {"type", ggml_type_name(t.type)},
                         {"shape", std::vector<int64_t>(t.ne, t.ne + t.n_dims)},
                         {"offset", t.offset},
                         {"bytes", t.nbytes}});
    }
    return out.dump(2) + "\n";
  }
  std::string s = Str(path, ": GGUF v", gguf_get_version(g), ", ", f.file_size(), " bytes, ",
                      gguf_get_n_kv(g), " metadata keys, ", f.tensors().size(), " tensors\n\nmetadata:\n");
  for (int64_t i = 0; i < gguf_get_n_kv(g); ++i) {
    s += Str("  ", gguf_get_key(g, i), " = ", f.ValueToString(i), "\n");
  }
  s += "\ntensors:\n";
  uint64_t total = 0;
  for (const auto& t : f.tensors()) {
    std::string shape = "[";
    for (int d = 0; d < t.n_dims; ++d) shape += (d ? ", " : "") + std::to_string(t.ne[d]);
    shape += "]";
    char line[512];
    std::snprintf(line, sizeof line, "  %-32s %-6s %-20s %12llu bytes @ %llu\n", t.name.c_str(),
                  ggml_type_name(t.type), shape.c_str(), (unsigned long long)t.nbytes,
                  (unsigned long long)t.offset);
    s += line;
    total += t.nbytes;
  }
  s += Str("  total tensor data: ", total, " bytes\n");
  return s;
}

}  // namespace chunkllm
