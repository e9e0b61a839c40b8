// A libFuzzer harness: one per target of fuzz_targets.h, chosen at compile time
// (CHUNKLLM_FUZZ_TARGET, set by tests/fuzz/CMakeLists.txt). Built only with -DCHUNKLLM_FUZZ=ON.
#include <cstddef>
#include <cstdint>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)chunkllm::fuzz::CHUNKLLM_FUZZ_TARGET(data, size);
  return 0;
}
