#include "train/teacher.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "model/attention_policy.h"
#include "model/model.h"
#include "model/session.h"

namespace chunkllm {
namespace {

// Dense attention that copies the tapped tensors of every batch into host arrays.
class TeacherCapture final : public AttentionPolicy {
 public:
  TeacherCapture(const ModelConfig& c, int T) : D_(c.n_embd), qrow_(c.n_head * c.head_dim) {
    attn_in.assign(size_t(c.n_layer), std::vector<float>(size_t(T) * D_));
    q.assign(size_t(c.n_layer), std::vector<float>(size_t(T) * qrow_));
    layer1.resize(size_t(T) * D_);
  }
  const char* name() const override { return "teacher"; }
  GraphTaps taps() const override { return {.attn_in = true, .q_rope = true, .layer1_out = true}; }
  void EndBatch(const SequenceGraph& g, int pos0, int n) override {
    for (size_t l = 0; l < attn_in.size(); ++l) {
      ggml_backend_tensor_get(g.attn_in[l], attn_in[l].data() + size_t(pos0) * D_, 0, sizeof(float) * D_ * n);
      ggml_backend_tensor_get(g.q_rope[l], q[l].data() + size_t(pos0) * qrow_, 0, sizeof(float) * qrow_ * n);
    }
    ggml_backend_tensor_get(g.layer1_out, layer1.data() + size_t(pos0) * D_, 0, sizeof(float) * D_ * n);
  }
  std::vector<std::vector<float>> attn_in, q;  // (T, D), (T, H * Dh)
  std::vector<float> layer1;

 private:
  size_t D_, qrow_;
};

// Aggregates one layer's attention per chunk, block of queries by block.
class ChunkAggregator {
 public:
  ChunkAggregator(const ModelConfig& c, const ChunkPartition& chunks, int sink, int n_threads)
      : c_(c), chunks_(chunks), T_(int(chunks.chunk_of.size())), C_(chunks.n_chunks()) {
    backend_ = ggml_backend_cpu_init();
    if (!backend_) Fail("cannot initialise the CPU backend");
    ggml_backend_cpu_set_n_threads(backend_, n_threads);
    galloc_ = ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend_));
    // Chunk indicator (T, C) as ggml (ne0 = T keys, ne1 = C): ind[c][j] = 1 iff key j in c.
    indicator_.assign(size_t(T_) * C_, 0.0f);
    for (int j = sink; j < T_; ++j) indicator_[size_t(chunks.chunk_of[size_t(j)]) * T_ + j] = 1.0f;
    meta_.resize(ggml_tensor_overhead() * 64 + ggml_graph_overhead());
  }
  ~ChunkAggregator() {
    ggml_gallocr_free(galloc_);
    ggml_backend_free(backend_);
  }

  // q: (T, H, Dh), k: (T, Hkv, Dh). Writes (T, C) renormalised targets.
  void Run(const std::vector<float>& q, const std::vector<float>& k, int Tq, std::vector<float>& target) {
    target.assign(size_t(T_) * C_, 0.0f);
    std::vector<float> agg, mask;
    for (int t0 = 0; t0 < T_; t0 += Tq) {
      const int nq = std::min(Tq, T_ - t0), n_kv = t0 + nq;
      Block(q, k, t0, nq, n_kv, agg, mask);
      for (int i = 0; i < nq; ++i) {
        const int t = t0 + i, n_cand = chunks_.n_candidates(t);
        const float* a = agg.data() + size_t(i) * C_;
        double sum = 0;
        for (int c = 0; c < n_cand; ++c) sum += a[c];
        if (n_cand == 0 || !(sum > 0)) continue;
        float* out = target.data() + size_t(t) * C_;
        for (int c = 0; c < n_cand; ++c) out[c] = float(a[c] / sum);
      }
    }
  }

 private:
  // agg receives (nq, C) row-major: head-summed attention of queries t0.. per chunk.
  void Block(const std::vector<float>& q, const std::vector<float>& k, int t0, int nq, int n_kv,
             std::vector<float>& agg, std::vector<float>& mask) {
    const int Dh = c_.head_dim, H = c_.n_head, Hkv = c_.n_head_kv;
    ggml_init_params ip = {meta_.size(), meta_.data(), /*no_alloc=*/true};
    ggml_context* ctx = ggml_init(ip);
    ggml_tensor* Qin = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, Dh, H, nq);
    ggml_tensor* Kin = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, Dh, Hkv, n_kv);
    ggml_tensor* Min = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n_kv, nq);
    ggml_tensor* Ind = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, T_, C_);
    for (ggml_tensor* t : {Qin, Kin, Min, Ind}) ggml_set_input(t);
    ggml_tensor* Kp = ggml_permute(ctx, Kin, 0, 2, 1, 3);                    // (Dh, n_kv, Hkv)
    ggml_tensor* Qp = ggml_permute(ctx, Qin, 0, 2, 1, 3);                    // (Dh, nq, H)
    ggml_tensor* kq = ggml_mul_mat(ctx, Kp, Qp);                             // (n_kv, nq, H)
    ggml_tensor* p = ggml_soft_max_ext(ctx, kq, Min, 1.0f / std::sqrt(float(Dh)), 0.0f);
    p = ggml_cont(ctx, ggml_permute(ctx, p, 1, 2, 0, 3));                    // (H, n_kv, nq)
    p = ggml_reshape_2d(ctx, ggml_sum_rows(ctx, p), n_kv, nq);               // (n_kv, nq)
    ggml_tensor* ind = ggml_view_2d(ctx, Ind, n_kv, C_, Ind->nb[1], 0);      // (n_kv, C)
    ggml_tensor* out = ggml_mul_mat(ctx, ind, p);                            // (C, nq)
    ggml_set_output(out);
    ggml_cgraph* gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, out);
    if (!ggml_gallocr_alloc_graph(galloc_, gf)) Fail("teacher: cannot allocate the aggregation graph");

    ggml_backend_tensor_set(Qin, q.data() + size_t(t0) * H * Dh, 0, ggml_nbytes(Qin));
    ggml_backend_tensor_set(Kin, k.data(), 0, ggml_nbytes(Kin));
    mask.resize(size_t(n_kv) * nq);
    for (int i = 0; i < nq; ++i) {
      float* row = mask.data() + size_t(i) * n_kv;
      for (int j = 0; j < n_kv; ++j) row[j] = j <= t0 + i ? 0.0f : -INFINITY;
    }
    ggml_backend_tensor_set(Min, mask.data(), 0, ggml_nbytes(Min));
    ggml_backend_tensor_set(Ind, indicator_.data(), 0, ggml_nbytes(Ind));
    if (ggml_backend_graph_compute(backend_, gf) != GGML_STATUS_SUCCESS) Fail("teacher: graph compute failed");
    agg.resize(size_t(nq) * C_);
    ggml_backend_tensor_get(out, agg.data(), 0, ggml_nbytes(out));
    ggml_free(ctx);
  }

  const ModelConfig& c_;
  const ChunkPartition& chunks_;
  int T_, C_;
  ggml_backend_t backend_ = nullptr;
  ggml_gallocr_t galloc_ = nullptr;
  std::vector<float> indicator_;
  std::vector<uint8_t> meta_;
};

// The f32 K cache of layer il, positions [0, T), as (T, Hkv, Dh).
std::vector<float> ReadKeys(const Session& s, int il, int T) {
  const ggml_tensor* kc = s.kv_cache().k(il);
  std::vector<float> k(size_t(T) * kc->ne[0]);
  ggml_backend_tensor_get(kc, k.data(), 0, sizeof(float) * k.size());
  return k;
}

}  // namespace

TeacherOutput RunTeacher(const Model& model, const std::vector<int32_t>& tokens, const ChunkPartition& chunks,
                         const TeacherOptions& o) {
  const ModelConfig& c = model.config();
  const int T = int(tokens.size());
  if (T == 0) Fail("teacher: empty sequence");
  if (int(chunks.chunk_of.size()) != T) Fail("teacher: chunk partition covers ", chunks.chunk_of.size(), " tokens, not ", T);
  if (T > c.n_ctx_train) Fail("teacher: ", T, " tokens exceed the model's training context ", c.n_ctx_train);

  TeacherCapture capture(c, T);
  SessionParams sp;
  sp.n_ctx = T;
  sp.n_threads = o.n_threads;
  sp.kv_type = GGML_TYPE_F32;  // the teacher's keys at full precision
  Session session(model, sp, &capture);
  session.Prefill(tokens);

  TeacherOutput out;
  out.T = T, out.D = c.n_embd, out.n_layer = c.n_layer, out.C = chunks.n_chunks();
  out.target.resize(size_t(c.n_layer));
  ChunkAggregator agg(c, chunks, o.sink, o.n_threads);
  for (int il = 0; il < c.n_layer; ++il) {
    std::vector<float> k = ReadKeys(session, il, T);
    agg.Run(capture.q[size_t(il)], k, o.query_block, out.target[size_t(il)]);
    if (o.keep_qk) out.k.push_back(std::move(k));
  }
  out.attn_in = std::move(capture.attn_in);
  out.layer1 = std::move(capture.layer1);
  if (o.keep_qk) out.q = std::move(capture.q);
  return out;
}

}  // namespace chunkllm
