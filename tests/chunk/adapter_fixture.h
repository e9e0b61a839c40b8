// Random adapter files for the tests that run the binary with --adapters: made for a model file
// (its shapes and fingerprint), so the binary loads them against that model.
#pragma once

#include <cstdint>
#include <string>

#include "chunk/adapter_file.h"
#include "model/gguf_file.h"
#include "model/model.h"

namespace chunkllm::test {

// Small adapters: 16 wide, rank 8, chunks of at most max_chunk tokens.
inline AdapterHyperParams SmallAdapterHp(int max_chunk) {
  AdapterHyperParams hp;
  hp.d_adapter = 16, hp.rank = 8, hp.max_chunk = max_chunk;
  return hp;
}

// Writes random adapters (seeded) for the model at model_path to path.
inline void WriteRandomAdapters(const std::string& model_path, const std::string& path, const AdapterHyperParams& hp,
                                uint32_t seed = 5) {
  SaveAdapters(RandomAdapters(BaseModelInfoOf(*Model::Load(model_path), GgufFile::Open(model_path)), hp, seed), path);
}

}  // namespace chunkllm::test
