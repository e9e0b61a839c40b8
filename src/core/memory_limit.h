// Memory checks for sizes that come from files and flags. An allocation that bad input asks
// for is refused with a message before it is tried: a huge allocation may abort inside a
// library, or succeed under overcommit and get the process killed later.
#pragma once

#include <cstdint>
#include <string>

namespace chunkllm {

// The machine's physical memory in bytes (a large fallback if the system does not say).
uint64_t PhysicalMemoryBytes();

// "1.5 GiB", "640 KiB": for messages.
std::string FormatBytes(uint64_t bytes);

// Throws Error "<what> needs X, more than this machine's Y of memory" when bytes exceeds the
// physical memory.
void CheckFitsInMemory(uint64_t bytes, const std::string& what);

}  // namespace chunkllm
