#include "serve/slot.h"

#include <algorithm>

#include "core/error.h"
#include "core/timer.h"

namespace chunkllm::serve {

Slot::Slot(int id, const Model& model, const Tokenizer& tokenizer, const SessionParams& params, ServerMetrics& metrics)
    : id_(id), tokenizer_(tokenizer), metrics_(metrics), session_(model, params) {}

int Slot::SharedPrefix(const std::vector<int32_t>& prompt, const PolicySpec* spec) const {
  if (spec != spec_) return 0;
  const size_t n = std::min(prompt.size(), cached_.size());
  return int(std::mismatch(prompt.begin(), prompt.begin() + n, cached_.begin()).first - prompt.begin());
}

void Slot::Start(std::shared_ptr<GenerationTask> task) {
  const std::vector<int32_t>& prompt = task->prompt;
  const int L = int(prompt.size());
  if (task->spec != spec_) {
    // Another method: a fresh policy; nothing of the cache is of use to it.
    std::unique_ptr<AttentionPolicy> policy = task->spec->NewPolicy();
    session_.ResetPolicy(policy.get());
    policy_ = std::move(policy);
    spec_ = task->spec;
    cached_.clear();
    prompt_logits_len_ = -1;
  }
  const int shared = SharedPrefix(prompt, spec_);
  int keep = 0;
  if (shared == L && prompt_logits_len_ == L && policy_->CanTruncate(L)) {
    keep = L;  // the same prompt again: its K/V and final logits are all there
  } else {
    for (int n = std::min(shared, L - 2); n > 0; --n) {
      if (policy_->CanTruncate(n)) {
        keep = n;
        break;
      }
    }
  }
  try {
    session_.Truncate(keep);
  } catch (const Error&) {  // e.g. an evicting policy released the full cache: start again
    keep = 0;
    session_.Truncate(0);
  }
  cached_.resize(size_t(keep));
  if (keep < prompt_logits_len_) prompt_logits_len_ = -1;
  policy_->ResetStats();

  task_ = std::move(task);
  metrics_.SlotStarted();
  generation_.emplace(tokenizer_, task_->sampler, task_->n_predict, task_->ignore_eos);
  emitter_.emplace(task_->stop);
  prefill_pos_ = keep;
  n_cached_ = keep;
  use_prompt_logits_ = keep == L;
  t_start_ = t_prefill_end_ = NowSeconds();
  PushProgress();
}

void Slot::PushProgress() {
  if (!task_->return_progress) return;
  TaskEvent e;
  e.kind = TaskEvent::Kind::kProgress;
  e.done = prefill_pos_, e.total = int(task_->prompt.size()), e.cached = n_cached_;
  task_->channel.Push(std::move(e));
}

void Slot::PrefillStep() {
  if (task_->channel.cancelled()) {
    generation_->Stop(FinishReason::kCancelled);
    Finish();
    return;
  }
  const std::vector<int32_t>& prompt = task_->prompt;
  const int L = int(prompt.size());
  int T = std::min(session_.params().n_ubatch, L - prefill_pos_);
  if (L - prefill_pos_ - T == 1 && T > 2) --T;  // leave no one-token batch at the end
  const std::vector<int32_t> batch(prompt.begin() + prefill_pos_, prompt.begin() + prefill_pos_ + T);
  session_.Prefill(batch, nullptr, {}, L);  // the prompt ends at L: a sparse prefill keeps its tail dense
  cached_.insert(cached_.end(), batch.begin(), batch.end());
  prefill_pos_ += T;
  if (prefill_pos_ == L) {
    prompt_logits_ = session_.last_logits();
    prompt_logits_len_ = L;
    t_prefill_end_ = NowSeconds();
  }
  PushProgress();
}

int32_t Slot::NextToken() {
  if (task_->channel.cancelled()) {
    generation_->Stop(FinishReason::kCancelled);
    Finish();
    return -1;
  }
  const std::vector<float>& logits = use_prompt_logits_ ? prompt_logits_ : session_.last_logits();
  use_prompt_logits_ = false;
  const int32_t token = generation_->Next(logits);
  if (token < 0) {
    Finish();
    return -1;
  }
  const std::string delta = emitter_->Push(tokenizer_.TokenToPiece(token));
  if (!delta.empty()) {
    TaskEvent e;
    e.kind = TaskEvent::Kind::kText;
    e.text = delta;
    task_->channel.Push(std::move(e));
  }
  if (emitter_->stopped()) {
    generation_->Stop(FinishReason::kStopString);
  } else if (generation_->at_limit()) {
    generation_->Stop(FinishReason::kMaxTokens);  // the last token need not be decoded
  } else if (session_.n_past() >= session_.n_ctx()) {
    generation_->Stop(FinishReason::kContextFull);
  }
  if (generation_->done()) {
    Finish();
    return -1;
  }
  return token;
}

void Slot::Decode(int32_t token) {
  session_.Decode(token);
  Decoded(token);
}

void Slot::Finish() {
  const double now = NowSeconds();
  GenerationResult r;
  r.finish = generation_->finish();
  r.prompt_tokens = int(task_->prompt.size());
  r.cached_tokens = n_cached_;
  r.completion_tokens = generation_->n_generated();
  r.method = spec_->name();
  r.stats = policy_->stats();
  r.prefill_s = t_prefill_end_ - t_start_;
  r.decode_s = now - t_prefill_end_;
  r.slot = id_;
  if (r.finish != FinishReason::kCancelled) {
    const std::string rest = emitter_->Flush();
    if (!rest.empty()) {
      TaskEvent e;
      e.kind = TaskEvent::Kind::kText;
      e.text = rest;
      task_->channel.Push(std::move(e));
    }
    metrics_.CountGeneration(r.prompt_tokens - r.cached_tokens, r.cached_tokens, r.completion_tokens, r.prefill_s,
                             r.decode_s, r.stats);
  }
  // The slot is free before its client hears the end (and before anything can throw: a Fail
  // after this must not count the end twice).
  const std::shared_ptr<GenerationTask> task = std::move(task_);
  generation_.reset();
  emitter_.reset();
  metrics_.SlotEnded();
  TaskEvent done;
  done.kind = TaskEvent::Kind::kDone;
  done.result = r;
  task->channel.Push(std::move(done));
}

void Slot::Fail(const std::string& message) {
  if (task_) {
    metrics_.SlotEnded();
    TaskEvent e;
    e.kind = TaskEvent::Kind::kError;
    e.error = ApiError(500, message, "", "", "server_error");
    task_->channel.Push(std::move(e));
  }
  task_.reset();
  generation_.reset();
  emitter_.reset();
  cached_.clear();
  prompt_logits_len_ = -1;
  try {
    session_.Truncate(0);
  } catch (const Error&) {
    spec_ = nullptr;  // the next task makes a fresh policy
  }
}

}  // namespace chunkllm::serve
