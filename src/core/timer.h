// Wall-clock timing in seconds, monotonic.
#pragma once

#include <chrono>

namespace chunkllm {

inline double NowSeconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

}  // namespace chunkllm
