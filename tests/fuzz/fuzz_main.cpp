// A libFuzzer harness: one per target of fuzz_targets.h, chosen at compile time
// (CHUNKLLM_FUZZ_TARGET, set by tests/fuzz/CMakeLists.txt). Built only with -DCHUNKLLM_FUZZ=ON.
#include <cstddef>
#include <cstdint>

#include "fuzz_targets.h"

// The targets load what every input shares (the tokenizers' vocabularies, the fixed model) on
// their first call. Made here, before libFuzzer starts its per-input clock: under the sanitizers
// on a busy machine that load alone took longer than -timeout, and the first input was
// reported as a timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  static const uint8_t empty = 0;
  (void)chunkllm::fuzz::CHUNKLLM_FUZZ_TARGET(&empty, 0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)chunkllm::fuzz::CHUNKLLM_FUZZ_TARGET(data, size);
  return 0;
}
