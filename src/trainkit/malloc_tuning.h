#pragma once

namespace chunkllm {

// Makes glibc's malloc keep freed memory for reuse instead of returning it to the kernel.
//
// Why: libtorch allocates every large CPU tensor with malloc, and glibc serves blocks above its
// mmap threshold (at most 32 MB) with a fresh mmap that munmap returns on free. A training step
// makes and frees tensors of hundreds of MB (the logits alone are rows x T x 32000 floats), so
// every step page-faulted all of them back in: measured on the demo backbone's config (T 256 x
// 8), 97 s of kernel time against 133 s of user time and 384 tokens/s; with the heap kept it is
// 9 s of kernel time and ~1,900 tokens/s, with the same losses (docs/benchmarks.md).
//
// Call it once, before the first tensor, in a process that trains with libtorch. It costs a
// larger resident set (freed memory stays mapped: ~2.6 GB peak for that config).
void KeepFreedMemoryForReuse();

}  // namespace chunkllm
