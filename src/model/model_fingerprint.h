// A fingerprint of a GGUF model's weights, so adapters trained for one backbone are refused
// on another (chunk/adapter_file.h).
//
// FNV-1a 64 over every tensor's name, type and shape and over sampled bytes of its data: the
// first and last 4 KiB and 16 evenly spaced 4 KiB blocks (the whole tensor when it is smaller
// than that). Sampling keeps it fast on multi-GB files (at most 72 KiB read per tensor) while
// any retraining, requantisation or reshaping changes it; a change confined to unsampled
// bytes of one tensor would go unnoticed, which is the price of not reading 14 GB.
#pragma once

#include <string>

namespace chunkllm {

class GgufFile;

// "fnv1a64:" followed by 16 hex digits. Throws Error if the file cannot be read.
std::string ModelFingerprint(const GgufFile& file);

}  // namespace chunkllm
