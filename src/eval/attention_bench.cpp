#include "eval/attention_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/read_bandwidth.h"
#include "ggml-cpu.h"
#include "model/split_kv_attention.h"

namespace chunkllm {

namespace {

// Owns a ggml context whose tensors hold their data (sizes are checked against the limit
// before any is made: ggml_init aborts when it cannot allocate).
struct Context {
  ggml_context* ctx;
  explicit Context(size_t bytes) : ctx(ggml_init({bytes, nullptr, false})) {}
  ~Context() { ggml_free(ctx); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
};

// Runs graphs on one persistent thread pool with a work buffer planned once per graph, as the
// engine's GraphRunner does: ggml_graph_compute_with_ctx would start threads and take a new
// work buffer from the context on every call.
class Runner {
 public:
  explicit Runner(int n_threads) : n_threads_(n_threads) {
    ggml_threadpool_params tpp = ggml_threadpool_params_default(n_threads);
    pool_ = ggml_threadpool_new(&tpp);
  }
  ~Runner() { ggml_threadpool_free(pool_); }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // A warm-up run, then `reps` timed runs of gf, in seconds.
  std::vector<double> Time(ggml_cgraph* gf, int reps) {
    ggml_cplan plan = ggml_graph_plan(gf, n_threads_, pool_);
    work_.resize(plan.work_size);
    plan.work_data = work_.data();
    std::vector<double> seconds;
    for (int r = 0; r <= reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      if (ggml_graph_compute(gf, &plan) != GGML_STATUS_SUCCESS) Fail("bench-attention: the graph failed");
      if (r > 0) seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return seconds;
  }

 private:
  int n_threads_;
  ggml_threadpool* pool_;
  std::vector<uint8_t> work_;
};

// Values uniform in [-1, 1) from a xorshift generator: the data only has to be finite and varied.
struct Values {
  uint64_t state;
  float Next() {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return float(state >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }
};

// t's elements drawn from v, converted (or quantized, row by row) to t's type.
void Fill(ggml_tensor* t, Values& v) {
  const int64_t row = t->ne[0], rows = ggml_nrows(t);
  std::vector<float> buf(static_cast<size_t>(row));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& x : buf) x = v.Next();
    char* dst = static_cast<char*>(t->data) + size_t(r) * ggml_row_size(t->type, row);
    if (t->type == GGML_TYPE_F32) std::copy(buf.begin(), buf.end(), reinterpret_cast<float*>(dst));
    else ggml_quantize_chunk(t->type, buf.data(), dst, 0, 1, row, nullptr);
  }
}

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// The bytes the benchmark's tensors take: the caches, queries and mask, and with --matmul the
// products' operands, S (f32, and f16 in the work buffer) and the output.
double DataBytes(const AttentionBenchParams& p) {
  const double n_kv = p.n_kv, T = p.n_tokens, Dh = p.head_dim, H = p.n_head, Hkv = p.n_head_kv;
  const double row = double(ggml_row_size(p.kv_type, int64_t(p.n_head_kv) * p.head_dim));
  double bytes = p.n_layer * (2 * n_kv * row + Dh * H * T * 4) + n_kv * T * 2;
  if (p.matmul) bytes += n_kv * Dh * Hkv * 4 + Dh * T * H * 4 + n_kv * T * H * 6 + Dh * T * H * 4;
  return bytes;
}

void Check(const AttentionBenchParams& p) {
  if (p.n_kv < 1 || p.n_layer < 1 || p.n_head < 1 || p.n_head_kv < 1 || p.head_dim < 1 || p.n_tokens < 1 ||
      p.repetitions < 1 || p.n_threads < 1)
    Fail("bench-attention: --n-kv, --layers, --heads, --kv-heads, --head-dim, --tokens, -r and -t must be positive");
  if (p.n_head % p.n_head_kv != 0) Fail("bench-attention: --heads ", p.n_head, " is not a multiple of --kv-heads ", p.n_head_kv);
  if (!SplitKvSupports(p.head_dim)) Fail("bench-attention: --head-dim ", p.head_dim, " is not a multiple of 16 up to 256");
  if (p.n_tokens > p.n_kv) Fail("bench-attention: --tokens ", p.n_tokens, " is more than --n-kv ", p.n_kv);
  if (p.n_layer > 256) Fail("bench-attention: --layers ", p.n_layer, " is more than 256");
  CheckKernelList(p.kernels);
  if (p.kv_type != GGML_TYPE_F16 && p.kv_type != GGML_TYPE_F32 && p.kv_type != GGML_TYPE_Q8_0)
    Fail("bench-attention: --cache-type must be f16, f32 or q8_0");
  const int64_t block = ggml_blck_size(p.kv_type);
  if (p.head_dim % block != 0)
    Fail("bench-attention: --head-dim ", p.head_dim, " is not a multiple of ", block, ", the block of --cache-type ",
         ggml_type_name(p.kv_type));
  const double bytes = DataBytes(p);
  if (bytes > double(16ull << 30))
    Fail("bench-attention: --n-kv ", p.n_kv, ", --layers ", p.n_layer, " and --tokens ", p.n_tokens, " would take ",
         bytes / double(1 << 30), " GiB (limit 16)");
}

}  // namespace

AttentionBenchReport RunAttentionBench(const AttentionBenchParams& p) {
  Check(p);
  const int Dh = p.head_dim, H = p.n_head, Hkv = p.n_head_kv, T = p.n_tokens, n_kv = p.n_kv;
  const size_t kv_row = ggml_row_size(p.kv_type, int64_t(Hkv) * Dh);  // one position, all KV heads
  const double cache_bytes = double(p.n_layer) * 2 * double(n_kv) * double(kv_row);
  const double flops = 4.0 * Dh * double(n_kv) * T * H * p.n_layer;
  AttentionBenchReport report;
  report.params = p;
  Values values{p.seed * 0x9E3779B97F4A7C15ull + 1};

  // Caches (Hkv * Dh, n_kv) per layer, as KvCache lays them out; queries (Dh, H, T); a causal
  // mask (n_kv, T): token t reads rows [0, n_kv - T + t].
  const size_t overhead = size_t(64) << 20;
  Context data(size_t(cache_bytes) + size_t(p.n_layer) * size_t(Dh) * H * T * 4 + size_t(n_kv) * T * 2 + overhead);
  Runner runner(p.n_threads);
  std::vector<ggml_tensor*> k(size_t(p.n_layer)), v(size_t(p.n_layer)), q(size_t(p.n_layer));
  for (int l = 0; l < p.n_layer; ++l) {
    k[size_t(l)] = ggml_new_tensor_2d(data.ctx, p.kv_type, int64_t(Hkv) * Dh, n_kv);
    v[size_t(l)] = ggml_new_tensor_2d(data.ctx, p.kv_type, int64_t(Hkv) * Dh, n_kv);
    q[size_t(l)] = ggml_new_tensor_3d(data.ctx, GGML_TYPE_F32, Dh, H, T);
    Fill(k[size_t(l)], values), Fill(v[size_t(l)], values), Fill(q[size_t(l)], values);
  }
  ggml_tensor* mask = ggml_new_tensor_2d(data.ctx, GGML_TYPE_F16, n_kv, T);
  for (int t = 0; t < T; ++t)
    for (int j = 0; j < n_kv; ++j)
      static_cast<ggml_fp16_t*>(mask->data)[size_t(t) * n_kv + size_t(j)] =
          ggml_fp32_to_fp16(j <= n_kv - T + t ? 0.0f : -INFINITY);

  for (AttentionKernel kernel : p.kernels) {
    // Room for the ops' outputs (split-KV's partial results of up to 32 parts), and for ggml's
    // kernel the f16 copies it makes of f32 caches.
    const size_t f16_copies = kernel == AttentionKernel::kGgml && p.kv_type == GGML_TYPE_F32 ? size_t(cache_bytes) / 2 : 0;
    const size_t max_nodes = 16 * size_t(p.n_layer) + 16;
    Context graph(ggml_tensor_overhead() * max_nodes + ggml_graph_overhead_custom(max_nodes, false) +
                  size_t(p.n_layer) * (size_t(Dh) + 2) * H * T * 4 * 33 + f16_copies + overhead);
    ggml_cgraph* gf = ggml_new_graph_custom(graph.ctx, max_nodes, false);
    const size_t head = ggml_row_size(p.kv_type, Dh);
    for (int l = 0; l < p.n_layer; ++l) {
      ggml_tensor* K = ggml_view_3d(graph.ctx, k[size_t(l)], Dh, n_kv, Hkv, k[size_t(l)]->nb[1], head, 0);
      ggml_tensor* V = ggml_view_3d(graph.ctx, v[size_t(l)], Dh, n_kv, Hkv, v[size_t(l)]->nb[1], head, 0);
      ggml_build_forward_expand(gf, AttentionWithKernel(graph.ctx, kernel, q[size_t(l)], K, V, mask, 1.0f / std::sqrt(float(Dh))));
    }
    report.rows.push_back({AttentionKernelName(kernel), runner.Time(gf, p.repetitions), flops, cache_bytes});
  }

  if (p.matmul) {
    // Layer 0's arithmetic as plain products, per KV head: S = K^T Q (n_kv, T * group) and
    // O = V^T S (Dh, T * group), V^T an f16 copy laid out for it; no softmax, no mask.
    const int rows_q = T * (H / Hkv);
    Context mm(size_t(n_kv) * rows_q * Hkv * 4 + size_t(n_kv) * Dh * Hkv * 4 + size_t(Dh) * rows_q * Hkv * 8 + overhead);
    ggml_tensor* K = ggml_new_tensor_3d(mm.ctx, GGML_TYPE_F16, Dh, n_kv, Hkv);
    ggml_tensor* Vt = ggml_new_tensor_3d(mm.ctx, GGML_TYPE_F16, n_kv, Dh, Hkv);
    ggml_tensor* Q = ggml_new_tensor_3d(mm.ctx, GGML_TYPE_F32, Dh, rows_q, Hkv);
    Fill(K, values), Fill(Vt, values), Fill(Q, values);
    ggml_cgraph* gf = ggml_new_graph(mm.ctx);
    ggml_build_forward_expand(gf, ggml_mul_mat(mm.ctx, Vt, ggml_mul_mat(mm.ctx, K, Q)));
    report.rows.push_back({"matmul", runner.Time(gf, p.repetitions), flops / p.n_layer, 2.0 * double(n_kv) * Dh * Hkv * 2});
  }
  report.read_bytes_per_s = MeasureReadBandwidth(p.n_threads);
  return report;
}

std::string FormatAttentionBenchMarkdown(const AttentionBenchReport& r) {
  const AttentionBenchParams& p = r.params;
  char line[512];
  std::snprintf(line, sizeof line,
                "attention of %d token(s) over %d cache rows, %d layers, %d heads on %d KV heads of %d, cache %s, "
                "%d threads; read bandwidth %.1f GB/s (measured in this run)\n\n",
                p.n_tokens, p.n_kv, p.n_layer, p.n_head, p.n_head_kv, p.head_dim, ggml_type_name(p.kv_type), p.n_threads,
                r.read_bytes_per_s / 1e9);
  std::string out = line;
  out += "| op | ms (median) | ms (min) | GFLOP/s | K/V GB/s | x read floor |\n| --- | ---: | ---: | ---: | ---: | ---: |\n";
  for (const AttentionBenchRow& row : r.rows) {
    const double s = Median(row.seconds), best = *std::min_element(row.seconds.begin(), row.seconds.end());
    std::snprintf(line, sizeof line, "| %s | %.3f | %.3f | %.1f | %.1f | %.2f |\n", row.what.c_str(), s * 1e3, best * 1e3,
                  row.flops / s / 1e9, row.bytes / s / 1e9, s / (row.bytes / r.read_bytes_per_s));
    out += line;
  }
  return out;
}

std::string FormatAttentionBenchJson(const AttentionBenchReport& r) {
  const AttentionBenchParams& p = r.params;
  nlohmann::json j = {{"n_kv", p.n_kv},           {"n_layer", p.n_layer},       {"n_head", p.n_head},
                      {"n_head_kv", p.n_head_kv}, {"head_dim", p.head_dim},     {"n_tokens", p.n_tokens},
                      {"kv_type", ggml_type_name(p.kv_type)}, {"n_threads", p.n_threads},
                      {"read_bytes_per_s", r.read_bytes_per_s}, {"rows", nlohmann::json::array()}};
  for (const AttentionBenchRow& row : r.rows) {
    const double s = Median(row.seconds);
    j["rows"].push_back({{"op", row.what},
                         {"seconds", row.seconds},
                         {"median_s", s},
                         {"flops", row.flops},
                         {"bytes", row.bytes},
                         {"gflops_per_s", row.flops / s / 1e9},
                         {"over_read_floor", s / (row.bytes / r.read_bytes_per_s)}});
  }
  return j.dump(2) + "\n";
}

}  // namespace chunkllm
