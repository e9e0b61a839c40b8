// The batched mat-vec op (model/batched_matvec.h) against a double-precision reference: every
// output within the f32 summation bound gamma_K * sum_k |w_k x_k| (f16 weights convert to f32
// exactly, so only the K products' rounding and their sum's remain); the same bits for any thread
// count and for a column whatever the other columns are; shapes with a K of one or many blocks,
// odd block counts, row counts that split unevenly across threads and up to two passes of columns.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "ggml-cpu.h"
#include "ggml.h"
#include "model/batched_matvec.h"

namespace chunkllm {
namespace {

struct Problem {
  int K, M, N;
  std::vector<ggml_fp16_t> w;  // (K, M)
  std::vector<float> x;        // (K, N)
};

Problem Make(int K, int M, int N, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  Problem p{K, M, N, std::vector<ggml_fp16_t>(size_t(K) * M), std::vector<float>(size_t(K) * N)};
  for (auto& v : p.w) v = ggml_fp32_to_fp16(d(rng));
  for (auto& v : p.x) v = d(rng) * 4.0f;
  return p;
}

// The op's output (M, N), computed with n_threads.
std::vector<float> Compute(const Problem& p, int n_threads) {
  ggml_init_params ip = {size_t(p.K) * p.M * 2 + size_t(p.K + p.M) * p.N * 4 + 16 * 1024 * 1024, nullptr, false};
  ggml_context* ctx = ggml_init(ip);
  ggml_tensor* w = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, p.K, p.M);
  ggml_tensor* x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, p.K, p.N);
  std::memcpy(w->data, p.w.data(), p.w.size() * sizeof(ggml_fp16_t));
  std::memcpy(x->data, p.x.data(), p.x.size() * sizeof(float));
  ggml_tensor* y = BatchedMatVec(ctx, w, x);
  ggml_cgraph* gf = ggml_new_graph(ctx);
  ggml_build_forward_expand(gf, y);
  EXPECT_EQ(GGML_STATUS_SUCCESS, ggml_graph_compute_with_ctx(ctx, gf, n_threads));
  std::vector<float> out(static_cast<const float*>(y->data), static_cast<const float*>(y->data) + size_t(p.M) * p.N);
  ggml_free(ctx);
  return out;
}

TEST(BatchedMatVec, WithinTheF32SummationBoundOfADoubleReference) {
  const double u = std::ldexp(1.0, -24);
  for (const auto& [K, M, N] : std::vector<std::tuple<int, int, int>>{
           {16, 5, 1}, {48, 33, 3}, {384, 1000, 4}, {1024, 77, 8}, {896, 130, 12}, {4864, 40, 2}}) {
    const Problem p = Make(K, M, N, 7 + K + N);
    const std::vector<float> y = Compute(p, 2);
    const double gamma = K * u / (1 - K * u);
    int bites = 0;
    for (int j = 0; j < N; ++j)
      for (int m = 0; m < M; ++m) {
        double ref = 0, mag = 0, largest = 0;
        for (int k = 0; k < K; ++k) {
          const double prod = double(ggml_fp16_to_fp32(p.w[size_t(m) * K + k])) * double(p.x[size_t(j) * K + k]);
          ref += prod, mag += std::fabs(prod);
          largest = std::max(largest, std::fabs(prod));
        }
        const double bound = gamma * mag;
        ASSERT_LE(std::fabs(double(y[size_t(j) * M + m]) - ref), bound)
            << "K " << K << " M " << M << " N " << N << ": row " << m << " column " << j;
        bites += largest > 2 * bound;  // the largest product left out (a wrong row or column) would break it
      }
    EXPECT_EQ(bites, M * N) << "K " << K << ": the bound is too loose to see a row's largest product missing";
  }
}

TEST(BatchedMatVec, SameBitsForAnyThreadCountAndAnyOtherColumns) {
  const Problem p = Make(384, 517, 11, 3);
  const std::vector<float> two = Compute(p, 2);
  for (int threads : {1, 3}) {
    const std::vector<float> other = Compute(p, threads);
    ASSERT_EQ(0, std::memcmp(two.data(), other.data(), two.size() * sizeof(float))) << threads << " threads";
  }
  // Column 9 alone, then as the first of two: the bits of the 11-column product's column 9.
  for (int n : {1, 2}) {
    Problem q = p;
    q.N = n;
    q.x.assign(p.x.begin() + size_t(9) * p.K, p.x.begin() + size_t(9 + n) * p.K);
    const std::vector<float> alone = Compute(q, 2);
    ASSERT_EQ(0, std::memcmp(alone.data(), two.data() + size_t(9) * p.M, size_t(p.M) * sizeof(float))) << n << " columns";
  }
}

TEST(BatchedMatVec, TakesOnlyF16WeightsWithWholeBlocks) {
  ggml_init_params ip = {1024 * 1024, nullptr, true};
  ggml_context* ctx = ggml_init(ip);
  EXPECT_TRUE(BatchedMatVecSupports(ggml_new_tensor_2d(ctx, GGML_TYPE_F16, 64, 8)));
  EXPECT_FALSE(BatchedMatVecSupports(ggml_new_tensor_2d(ctx, GGML_TYPE_F16, 72, 8)));
  EXPECT_FALSE(BatchedMatVecSupports(ggml_new_tensor_2d(ctx, GGML_TYPE_Q8_0, 64, 8)));
  EXPECT_FALSE(BatchedMatVecSupports(ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 64, 8)));
  ggml_free(ctx);
}

}  // namespace
}  // namespace chunkllm
