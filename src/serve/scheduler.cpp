#include "serve/scheduler.h"

#include <algorithm>
#include <exception>

#include "core/error.h"
#include "ggml-cpu.h"

namespace chunkllm::serve {

namespace {

// One thread pool for every slot and the batch: they compute one at a time on the scheduler's
// thread, and idle pools would spin beside the busy one.
ggml_threadpool* NewThreadPool(int n_threads) {
  if (n_threads <= 0) Fail("thread count must be positive, got ", n_threads);
  ggml_threadpool_params tpp = ggml_threadpool_params_default(n_threads);
  ggml_threadpool* pool = ggml_threadpool_new(&tpp);
  if (!pool) Fail("cannot start a pool of ", n_threads, " threads");
  return pool;
}

SessionParams WithPool(SessionParams params, ggml_threadpool* pool) {
  params.threadpool = pool;
  return params;
}

std::vector<std::unique_ptr<Slot>> MakeSlots(const Model& model, const Tokenizer& tokenizer, const SessionParams& params,
                                             int n_slots, ServerMetrics& metrics) {
  std::vector<std::unique_ptr<Slot>> slots;
  for (int i = 0; i < n_slots; ++i) slots.push_back(std::make_unique<Slot>(i, model, tokenizer, params, metrics));
  return slots;
}

}  // namespace

Scheduler::Scheduler(const Model& model, const Tokenizer& tokenizer, const SessionParams& params, int n_slots,
                     int max_queue, ServerMetrics& metrics)
    : metrics_(metrics),
      max_queue_(max_queue),
      pool_(NewThreadPool(params.n_threads), &ggml_threadpool_free),
      slots_(MakeSlots(model, tokenizer, WithPool(params, pool_.get()), n_slots, metrics)),
      batch_(model, params.n_threads, params.attn_kernel, pool_.get()) {
  last_used_.assign(size_t(n_slots), 0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    PublishLoad();
  }
  thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& slot : slots_) {
    if (slot->busy()) slot->Fail("the server is shutting down");
  }
  for (auto& task : queue_) {
    TaskEvent e;
    e.kind = TaskEvent::Kind::kError;
    e.error = ApiError(503, "the server is shutting down", "", "", "unavailable_error");
    task->channel.Push(std::move(e));
  }
}

bool Scheduler::Submit(std::shared_ptr<GenerationTask> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Tasks about to take a free slot do not count against the bound.
    const int free_slots = n_slots() - busy_;
    if (int(queue_.size()) >= max_queue_ + free_slots) return false;
    queue_.push_back(std::move(task));
    PublishLoad();
  }
  cv_.notify_all();
  return true;
}

void Scheduler::PublishLoad() {
  const int free_slots = n_slots() - busy_;
  metrics_.SetQueue(std::max(0, int(queue_.size()) - free_slots), n_slots());
}

void Scheduler::Admit() {
  while (!queue_.empty() && busy_ < n_slots()) {
    std::shared_ptr<GenerationTask> task = std::move(queue_.front());
    queue_.pop_front();
    if (task->channel.cancelled()) continue;
    Slot* best = nullptr;
    int best_shared = -1;
    for (auto& slot : slots_) {
      if (slot->busy()) continue;
      const int shared = slot->SharedPrefix(task->prompt, task->spec);
      if (shared > best_shared || (shared == best_shared && last_used_[size_t(slot->id())] < last_used_[size_t(best->id())])) {
        best = slot.get();
        best_shared = shared;
      }
    }
    last_used_[size_t(best->id())] = ++admissions_;
    try {
      best->Start(task);
      ++busy_;
    } catch (const std::exception& e) {
      if (best->busy()) {
        best->Fail(e.what());
      } else {
        TaskEvent err;
        err.kind = TaskEvent::Kind::kError;
        err.error = ApiError(500, e.what(), "", "", "server_error");
        task->channel.Push(std::move(err));
      }
    }
  }
  PublishLoad();
}

void Scheduler::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || busy_ > 0 || !queue_.empty(); });
      if (stop_) return;
      Admit();
    }
    // A slot that ends its task (or fails) is free again; busy_ follows after the round.
    const auto run = [&](Slot& slot, auto&& step) {
      try {
        step();
      } catch (const std::exception& e) {
        slot.Fail(e.what());
      }
    };
    for (auto& slot : slots_) {
      if (slot->prefilling()) run(*slot, [&] { slot->PrefillStep(); });
    }
    // Every generating slot draws its next token; then their decode steps run as one batch
    // (the weights read once for all), or alone on a lone slot's session (the same bits as
    // `chunkllm run`).
    std::vector<Slot*> decoding;
    std::vector<Session*> sessions;
    std::vector<int32_t> tokens;
    for (auto& slot : slots_) {
      if (!slot->busy() || slot->prefilling()) continue;
      run(*slot, [&] {
        const int32_t token = slot->NextToken();
        if (token < 0) return;
        decoding.push_back(slot.get());
        sessions.push_back(&slot->session());
        tokens.push_back(token);
      });
    }
    if (!decoding.empty()) metrics_.CountDecodeRound(int(decoding.size()));
    if (decoding.size() == 1) {
      run(*decoding[0], [&] { decoding[0]->Decode(tokens[0]); });
    } else if (!decoding.empty()) {
      try {
        std::vector<bool> failed(decoding.size(), false);
        for (const SessionBatch::Failure& f : batch_.Decode(sessions, tokens)) {
          failed[f.index] = true;
          decoding[f.index]->Fail(f.message);
        }
        for (size_t i = 0; i < decoding.size(); ++i) {
          if (!failed[i]) decoding[i]->Decoded(tokens[i]);
        }
      } catch (const std::exception& e) {
        for (Slot* slot : decoding) slot->Fail(e.what());  // their sessions' state is unknown
      }
    }
    int busy = 0;
    for (auto& slot : slots_) busy += slot->busy();
    std::lock_guard<std::mutex> lock(mu_);
    busy_ = busy;
    PublishLoad();
  }
}

}  // namespace chunkllm::serve
