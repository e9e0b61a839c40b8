// Parsing ggml type names ("f16", "q8_0", "q4_K", ...) given on the command line.
#pragma once

#include <string>

#include "ggml.h"

namespace chunkllm {

// Case-insensitive match against ggml_type_name(); throws Error naming `what` otherwise.
ggml_type GgmlTypeFromName(const std::string& name, const std::string& what);

}  // namespace chunkllm
