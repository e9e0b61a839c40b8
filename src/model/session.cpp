#include "model/session.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/error.h"

namespace chunkllm {

namespace {

// The KV cache's size: n_ctx rounded up to the padding, checked first so the rounding cannot
// overflow.
int PaddedContext(int n_ctx) {
  if (n_ctx <= 0 || n_ctx > kMaxContext) Fail("context size (-c) must be in [1, ", kMaxContext, "], got ", n_ctx);
  return GGML_PAD(n_ctx, kKvPad);
}

uint64_t NextGeneration() {
  static std::atomic<uint64_t> next{1};
  return next++;
}

}  // namespace

Session::Session(const Model& model, const SessionParams& params, AttentionPolicy* policy)
    : model_(model), params_(params), policy_(policy ? policy : &dense_policy_),
      kv_(model.config(), PaddedContext(params.n_ctx), params.kv_type), runner_(params.n_threads, params.threadpool) {
  if (params.n_ubatch <= 0) Fail("micro-batch size must be positive, got ", params.n_ubatch);
  logits_.assign(model.config().n_vocab, 0.0f);
  generation_ = NextGeneration();
  policy_->Attach(kv_);
}

Session::~Session() = default;

void Session::Truncate(int n) {
  n = std::max(0, std::min(n, kv_.n_past()));
  if (n == 0 && kv_.released()) {
    kv_.Reacquire();
    graph_key_ = GraphKey{};  // the cached graph points at the released cache's tensors
  }
  policy_->Truncate(n);  // first: it refuses what it cannot do before anything changed
  kv_.set_n_past(n);
}

void Session::ResetPolicy(AttentionPolicy* policy) {
  // The cached graph holds the old policy's nodes: dropped before that policy may go.
  runner_.Forget();
  graph_key_ = GraphKey{};
  if (kv_.released()) kv_.Reacquire();
  kv_.set_n_past(0);
  policy_ = policy ? policy : &dense_policy_;
  generation_ = NextGeneration();
  policy_->Attach(kv_);
}

size_t Session::compute_bytes() const { return runner_.compute_bytes(); }

Session::BatchPlan Session::Plan(const int32_t* tokens, int T, int n_outputs, int prompt_end) {
  const int pos0 = kv_.n_past();
  policy_->BeginBatch(pos0, T, tokens);
  const SparsePrefillBatch sparse = T > 1 ? policy_->PrefillBatch(pos0, T, prompt_end) : SparsePrefillBatch{};

  // A one-layer model's layer-1 taps must cover every token: no output-row pruning then.
  BatchPlan plan;
  plan.pos0 = pos0;
  plan.n_wanted = n_outputs;
  const GraphTaps taps = policy_->taps();
  const bool reads_layer1 = taps.layer1_out || taps.hook_layer1;
  if (reads_layer1 && model_.config().n_layer == 1) n_outputs = T;
  const KvCache* gathered = T == 1 ? policy_->gathered_cache() : sparse.cache;
  const bool write_kv = !gathered || policy_->keeps_full_cache();
  if (kv_.released() && write_kv) {
    Fail("the ", policy_->name(), " policy evicted the full KV cache; this session can only decode now");
  }
  const int n_layer = model_.config().n_layer;
  int n_kv = std::min(kv_.n_ctx(), GGML_PAD(pos0 + T, kKvPad));
  if (sparse.cache) {
    if (sparse.n_kv <= 0 || sparse.n_kv > sparse.cache->n_ctx()) {
      Fail("sparse prefill asks for ", sparse.n_kv, " rows of a gathered cache of ", sparse.cache->n_ctx());
    }
    n_kv = sparse.n_kv;
  } else if (gathered) {
    int rows = 0;
    for (int il = 0; il < n_layer; ++il) rows = std::max(rows, policy_->gathered_rows(il) + 1);
    if (rows > gathered->n_ctx()) Fail("gathered attention needs ", rows, " rows; its cache holds ", gathered->n_ctx());
    n_kv = std::min(gathered->n_ctx(), GGML_PAD(rows, kKvPad));
  }
  plan.key = GraphKey{T, n_outputs, n_kv, gathered, gathered ? gathered->uid() : 0, write_kv, sparse.cache != nullptr};
  return plan;
}

SequenceSpec Session::Spec(const BatchPlan& plan) {
  const GraphKey& k = plan.key;
  SequenceSpec spec;
  spec.kv = &kv_;
  spec.n_kv = k.n_kv;
  spec.n_tokens = k.n_tokens;
  spec.n_outputs = k.n_outputs;
  spec.taps = policy_->taps();
  spec.policy = policy_->NewGraph();
  spec.gathered = k.gathered;
  spec.write_kv = k.write_kv;
  spec.sparse_prefill = k.sparse_prefill;
  return spec;
}

void Session::SetInputs(const SequenceGraph& seq, const BatchPlan& plan) {
  const int T = plan.key.n_tokens, n_kv = plan.key.n_kv, pos0 = plan.pos0;
  if (seq.inp_kv_rows) {
    std::vector<int64_t> rows(T);
    for (int i = 0; i < T; ++i) rows[i] = pos0 + i;
    ggml_backend_tensor_set(seq.inp_kv_rows, rows.data(), 0, sizeof(int64_t) * T);
  }
  const ggml_fp16_t zero = ggml_fp32_to_fp16(0.0f), neg_inf = ggml_fp32_to_fp16(-INFINITY);
  if (plan.key.sparse_prefill) {
    // The policy's nodes make each layer's mask while the graph runs.
  } else if (plan.key.gathered) {
    // Layer l reads its gathered rows and the new one: [0, gathered_rows(l)]; padding masked.
    mask_.resize(size_t(n_kv));
    for (int il = 0; il < model_.config().n_layer; ++il) {
      const int64_t row = policy_->gathered_rows(il);
      ggml_backend_tensor_set(seq.inp_gather_row[size_t(il)], &row, 0, sizeof(row));
      if (!policy_->GatheredMask(il, n_kv, mask_.data())) {
        std::fill(mask_.begin(), mask_.begin() + row + 1, zero);
        std::fill(mask_.begin() + row + 1, mask_.end(), neg_inf);
      }
      ggml_backend_tensor_set(seq.inp_gather_mask[size_t(il)], mask_.data(), 0, mask_.size() * sizeof(ggml_fp16_t));
    }
  } else {
    // Causal mask (n_kv, T): token i (at pos0 + i) sees cache positions j <= pos0 + i; the
    // padding past pos0 + T is masked too.
    mask_.resize(size_t(n_kv) * T);
    for (int i = 0; i < T; ++i) {
      ggml_fp16_t* row = mask_.data() + size_t(i) * n_kv;
      const int seen = std::min(n_kv, pos0 + i + 1);
      std::fill(row, row + seen, zero);
      std::fill(row + seen, row + n_kv, neg_inf);
    }
    ggml_backend_tensor_set(seq.inp_mask, mask_.data(), 0, mask_.size() * sizeof(ggml_fp16_t));
  }
}

void Session::Finish(const ForwardGraph& fg, const SequenceGraph& seq, const BatchPlan& plan, float* out_logits) {
  // The last n_wanted of this sequence's output rows of logits (V, n_out) are the caller's.
  const size_t row_bytes = fg.logits->nb[1];
  const int first = seq.first_output + seq.n_outputs - plan.n_wanted;
  ggml_backend_tensor_get(fg.logits, out_logits, row_bytes * size_t(first), row_bytes * size_t(plan.n_wanted));
  kv_.set_n_past(plan.pos0 + plan.key.n_tokens);
  policy_->EndBatch(seq, plan.pos0, plan.key.n_tokens);
}

void Session::RunBatch(const int32_t* tokens, int T, int n_outputs, float* out_logits, int prompt_end) {
  const BatchPlan plan = Plan(tokens, T, n_outputs, prompt_end);
  if (!(plan.key == graph_key_)) {
    graph_key_ = GraphKey{};
    std::vector<SequenceSpec> specs;
    specs.push_back(Spec(plan));
    runner_.Build(model_, std::move(specs), params_.attn_kernel);
    graph_key_ = plan.key;
  }
  const ForwardGraph& fg = runner_.graph();
  const int n_out = plan.key.n_outputs;
  std::vector<int32_t> pos(T), out_ids(n_out);
  for (int i = 0; i < T; ++i) pos[i] = plan.pos0 + i;
  for (int i = 0; i < n_out; ++i) out_ids[i] = T - n_out + i;
  SetBatchInputs(fg, std::vector<int32_t>(tokens, tokens + T), pos, out_ids);
  SetInputs(fg.seqs[0], plan);
  runner_.Compute();
  Finish(fg, fg.seqs[0], plan, out_logits);
}

void Session::Prefill(const std::vector<int32_t>& tokens, std::vector<float>* all_logits,
                      const std::function<void(int, int)>& progress, int prompt_end) {
  const int n = int(tokens.size());
  if (n == 0) return;
  const int V = model_.config().n_vocab;
  for (int i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= V) {
      Fail("token id ", tokens[i], " at index ", i, " is out of range [0, ", V, ")");
    }
  }
  if (kv_.n_past() + n > n_ctx()) {
    Fail("the prompt needs ", kv_.n_past() + n, " positions but the context holds ", n_ctx(),
         " (raise -c)");
  }
  if (all_logits) all_logits->resize(size_t(n) * V);
  if (prompt_end < 0) prompt_end = kv_.n_past() + n;
  if (prompt_end < kv_.n_past() + n) Fail("the prompt ends at ", prompt_end, ", before these tokens do");
  for (int b = 0; b < n; b += params_.n_ubatch) {
    const int T = std::min(params_.n_ubatch, n - b);
    // Without all_logits only the last token's row matters; earlier batches' rows are
    // overwritten by the next batch.
    if (all_logits) {
      RunBatch(tokens.data() + b, T, T, all_logits->data() + size_t(b) * V, prompt_end);
    } else {
      RunBatch(tokens.data() + b, T, 1, logits_.data(), prompt_end);
    }
    if (progress) progress(b + T, n);
  }
  if (all_logits) std::copy(all_logits->end() - V, all_logits->end(), logits_.begin());
}

void Session::CheckDecode(int32_t token) const {
  const int V = model_.config().n_vocab;
  if (token < 0 || token >= V) Fail("token id ", token, " is out of range [0, ", V, ")");
  if (kv_.n_past() + 1 > n_ctx()) {
    Fail("the context is full: ", n_ctx(), " positions (raise -c)");
  }
}

const std::vector<float>& Session::Decode(int32_t token) {
  CheckDecode(token);
  RunBatch(&token, 1, 1, logits_.data(), kv_.n_past() + 1);
  return logits_;
}

}  // namespace chunkllm
