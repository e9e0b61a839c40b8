#include "core/memory_limit.h"

#include <unistd.h>

#include <cstdio>

#include "core/error.h"

namespace chunkllm {

uint64_t PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return uint64_t(1) << 40;
  return uint64_t(pages) * uint64_t(page);
}

std::string FormatBytes(uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 6) v /= 1024.0, ++u;
  char buf[64];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu bytes", (unsigned long long)bytes);
  else std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

void CheckFitsInMemory(uint64_t bytes, const std::string& what) {
  const uint64_t have = PhysicalMemoryBytes();
  if (bytes > have) Fail(what, " needs ", FormatBytes(bytes), ", more than this machine's ", FormatBytes(have), " of memory");
}

}  // namespace chunkllm
