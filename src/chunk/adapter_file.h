// The adapter file: a GGUF holding every layer's Q/K adapters and the Chunk Adapter, with the
// base model's identity and the training record (format: docs/formats.md).
#pragma once

#include <cstdint>
#include <string>

#include "chunk/adapter_set.h"

namespace chunkllm {

class Model;
class GgufFile;

// Written to a temp name and renamed. Throws Error on I/O failure or inconsistent shapes.
void SaveAdapters(const AdapterSet& adapters, const std::string& path);

// Reads and validates everything (keys, types, tensor shapes, finite values). Throws Error
// naming the file and the key or tensor at fault, with what was expected and found.
AdapterSet LoadAdapters(const std::string& path);

// The identity of a loaded model; file must be the GGUF the model was loaded from.
BaseModelInfo BaseModelInfoOf(const Model& model, const GgufFile& file);

// Throws Error unless the adapters were trained for this model (arch, shape, fingerprint).
void CheckAdaptersMatchModel(const AdapterSet& adapters, const BaseModelInfo& model, const std::string& adapters_path,
                             const std::string& model_path);

// LoadAdapters, then CheckAdaptersMatchModel against `model` (opened again from model.path()
// for its fingerprint): what every command that uses adapters with a model loads them with.
AdapterSet LoadMatchingAdapters(const std::string& path, const Model& model);

// Random weights (N(0, 1/fan_in)) for tests and benchmarks; hp.d_adapter 0 means n_embd / 4.
AdapterSet RandomAdapters(const BaseModelInfo& base, AdapterHyperParams hp, uint32_t seed);

}  // namespace chunkllm
