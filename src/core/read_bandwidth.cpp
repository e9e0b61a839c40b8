#include "core/read_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/error.h"

namespace chunkllm {

namespace {

// Sum of n words with 8 independent accumulators, so the loop is bound by loads, not by one
// chain of adds; the compiler vectorizes it.
uint64_t SumWords(const uint64_t* p, size_t n) {
  uint64_t acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += p[i + size_t(k)];
  for (; i < n; ++i) acc[0] += p[i];
  uint64_t s = 0;
  for (uint64_t a : acc) s += a;
  return s;
}

}  // namespace

double MeasureReadBandwidth(int n_threads, size_t buffer_bytes, int passes) {
  if (n_threads <= 0 || passes <= 0 || buffer_bytes < (size_t(1) << 20))
    Fail("read bandwidth: bad parameters (threads ", n_threads, ", passes ", passes, ")");
  const size_t n = buffer_bytes / sizeof(uint64_t);
  std::vector<uint64_t> buf(n);
  for (size_t i = 0; i < n; ++i) buf[i] = i;  // touch every page before timing
  std::vector<uint64_t> sums(static_cast<size_t>(n_threads));
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < n_threads; ++t) {
      threads.emplace_back([&, t] {
        const size_t b = n / size_t(n_threads) * size_t(t), e = t + 1 == n_threads ? n : n / size_t(n_threads) * size_t(t + 1);
        sums[size_t(t)] = SumWords(buf.data() + b, e - b);
      });
    }
    for (auto& th : threads) th.join();
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(n * sizeof(uint64_t)) / sec);
  }
  // The sums go somewhere the compiler cannot see through, so the reads are not optimized away.
  static volatile uint64_t sink;
  for (uint64_t s : sums) sink = sink + s;
  return best;
}

}  // namespace chunkllm
