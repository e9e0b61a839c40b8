// chunkllm-fuzz-seeds OUT_DIR REPO_ROOT: writes the seed corpus of every fuzz target
// (scripts/fuzz.sh --seeds runs it into tests/fuzz/corpus/).
#include <cstdio>
#include <exception>

#include "fuzz_targets.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUT_DIR REPO_ROOT\n", argv[0]);
    return 2;
  }
  try {
    chunkllm::fuzz::MakeSeeds(argv[1], argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
