// The machine's memory read bandwidth, measured: what a decode step's floor is computed from.
//
// Several threads sum disjoint slices of a buffer much larger than any cache; the best of a
// few passes counts (a pass that another process slowed is not the machine's bandwidth).
#pragma once

#include <cstddef>

namespace chunkllm {

// Bytes per second that n_threads threads read from memory, streaming.
double MeasureReadBandwidth(int n_threads, size_t buffer_bytes = size_t(256) << 20, int passes = 3);

}  // namespace chunkllm
