// Vectors of 16 floats for the hand-written kernels (attention: model/split_kv_attention.cpp,
// model/tiled_attention.cpp; weights: model/batched_matvec.cpp).
//
// GCC/Clang vector extensions: one zmm register with AVX-512, two ymm with AVX2, four q
// registers on NEON, so the kernels' loops need intrinsics only for f16 loads (F16C). Include
// this only from files built for the host's vector units (src/CMakeLists.txt, -march=native
// where ggml is built so); elsewhere it compiles to the portable fallbacks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ggml-cpu.h"
#include "ggml.h"
#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace chunkllm::vec16 {

// Every function is forced inline: compiled once per including file for its instruction set,
// never an out-of-line copy that a file built for another one could pick up at link time.
#define CHUNKLLM_VEC16 inline __attribute__((always_inline))

using F32x16 = float __attribute__((vector_size(64)));
using I32x16 = int32_t __attribute__((vector_size(64)));
inline constexpr int kLanes = 16;

CHUNKLLM_VEC16 F32x16 Load(const float* p) {
  F32x16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
CHUNKLLM_VEC16 void Store(float* p, F32x16 v) { std::memcpy(p, &v, sizeof v); }
// x in every lane: one broadcast (F32x16{} + x would add 0.0f first: an exact sign rule
// forbids the compiler to drop that addition).
CHUNKLLM_VEC16 F32x16 Splat(float x) { return F32x16{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }

// 16 f16 values as f32, converted in registers where the CPU has F16C.
CHUNKLLM_VEC16 F32x16 LoadHalf(const ggml_fp16_t* p) {
  F32x16 r;
#if defined(__AVX512F__)
  // (The zero-masked form with every lane kept is the same instruction; the plain one makes
  // GCC 12 warn of its undefined pass-through operand, GCC bug 105593.)
  const __m512 v = _mm512_maskz_cvtph_ps(__mmask16(0xFFFF), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  std::memcpy(&r, &v, sizeof r);
#elif defined(__F16C__)
  const __m256 lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256 hi = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)));
  std::memcpy(&r, &lo, sizeof lo);
  std::memcpy(reinterpret_cast<char*>(&r) + sizeof lo, &hi, sizeof hi);
#else
  float t[kLanes];
  ggml_cpu_fp16_to_fp32(p, t, kLanes);
  r = Load(t);
#endif
  return r;
}

// Sum of the 16 lanes by halves (4 adds, not 15 in a chain).
CHUNKLLM_VEC16 float HorizontalSum(F32x16 v) {
  const auto a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                 __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const auto b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  const auto c = __builtin_shufflevector(b, b, 0, 1) + __builtin_shufflevector(b, b, 2, 3);
  return c[0] + c[1];
}

CHUNKLLM_VEC16 F32x16 Max(F32x16 a, F32x16 b) { return a > b ? a : b; }

// The largest lane by halves (exact in any order, as max is).
CHUNKLLM_VEC16 float HorizontalMax(F32x16 v) {
  const auto a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
  const auto b = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const auto c = a > b ? a : b;
  const auto d = __builtin_shufflevector(c, c, 0, 1, 2, 3), e = __builtin_shufflevector(c, c, 4, 5, 6, 7);
  const auto f = d > e ? d : e;
  return std::max(std::max(f[0], f[1]), std::max(f[2], f[3]));
}

// Whether some lane of v is greater than x (false for NaN lanes).
CHUNKLLM_VEC16 bool AnyGreater(F32x16 v, float x) {
#if defined(__AVX512F__)
  __m512 a;
  std::memcpy(&a, &v, sizeof a);
  return _mm512_cmp_ps_mask(a, _mm512_set1_ps(x), _CMP_GT_OQ) != 0;
#else
  for (int i = 0; i < kLanes; ++i)
    if (v[i] > x) return true;
  return false;
#endif
}

// An online softmax's new running maximum, max(m, the largest lane of v), with the lanes reduced
// only when one passes m (in a long softmax, after the first blocks, rarely): one vector compare
// where a reduction across lanes would be paid for every block.
CHUNKLLM_VEC16 float RunningMax(F32x16 v, float m) { return AnyGreater(v, m) ? HorizontalMax(v) : m; }

// The lane sums of 16 vectors at once: lane p of the result is the sum of v[p]'s 16 lanes.
// Four levels; a level with stride S pairs vectors a, b into one whose lanes with bit S clear
// hold a's sums over lanes {j, j + S} and the others b's over {j - S, j}. After the strides 1,
// 2, 4, 8, lane p has summed all of v[p]'s lanes: 15 shuffle pairs for 16 sums, not 16 x 4.
CHUNKLLM_VEC16 F32x16 TransposeSum(const F32x16* v) {
  F32x16 w[8], x[4], y[2];
  for (int m = 0; m < 8; ++m) {
    const F32x16 a = v[2 * m], b = v[2 * m + 1];
    w[m] = __builtin_shufflevector(a, b, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30) +
           __builtin_shufflevector(a, b, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
  }
  for (int m = 0; m < 4; ++m) {
    const F32x16 a = w[2 * m], b = w[2 * m + 1];
    x[m] = __builtin_shufflevector(a, b, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29) +
           __builtin_shufflevector(a, b, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
  }
  for (int m = 0; m < 2; ++m) {
    const F32x16 a = x[2 * m], b = x[2 * m + 1];
    y[m] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27) +
           __builtin_shufflevector(a, b, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
  }
  return __builtin_shufflevector(y[0], y[1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
         __builtin_shufflevector(y[0], y[1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
}

// e^x for x <= 0, 16 at a time, without a libm call: x = n ln2 + r with |r| <= ln2/2, e^r by
// Cephes' degree-6 polynomial (relative error ~1e-7, about 1 ulp), 2^n written into the exponent
// bits; n is rounded by adding and subtracting 1.5 * 2^23. Below -87, e^x < 2^-125 is returned
// as 0 (so is e^-inf): such a weight vanishes beside the maximum's weight 1 in any f32 sum.
CHUNKLLM_VEC16 F32x16 ExpNonPositive(F32x16 x) {
  const F32x16 xc = x < -87.0f ? Splat(-87.0f) : x;
  const F32x16 n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  F32x16 r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  F32x16 p = Splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const I32x16 bits = (__builtin_convertvector(n, I32x16) + 127) << 23;
  F32x16 two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return x < -87.0f ? F32x16{} : p * two_n;
}

CHUNKLLM_VEC16 float ExpNonPositive(float x) { return ExpNonPositive(Splat(x))[0]; }

#undef CHUNKLLM_VEC16

}  // namespace chunkllm::vec16
