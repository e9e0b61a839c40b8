#include "trainkit/malloc_tuning.h"

#include <malloc.h>

#include <climits>

namespace chunkllm {

void KeepFreedMemoryForReuse() {
#ifdef __GLIBC__
  mallopt(M_MMAP_MAX, 0);               // no mmap per large block: all blocks come from the heap
  mallopt(M_TRIM_THRESHOLD, INT_MAX);   // and freed heap memory is not given back (trimmed)
#endif
}

}  // namespace chunkllm
