// `chunkllm inspect FILE`: a GGUF file's metadata and tensor table, as text or JSON.
#pragma once

#include <string>

namespace chunkllm {

// Returns the rendering; throws Error for unreadable files.
std::string InspectGguf(const std::string& path, bool json);

}  // namespace chunkllm
