// RULER's string_match_all: the share of expected answers found in the prediction,
// case-insensitively. A sample scores 1 only when every answer is present. An empty answer
// (found in any prediction) throws Error.
#pragma once

#include <string>
#include <vector>

namespace chunkllm {

double StringMatchAll(const std::string& prediction, const std::vector<std::string>& answers);

}  // namespace chunkllm
