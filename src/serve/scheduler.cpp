#include "serve/scheduler.h"

#include <algorithm>
#include <exception>

namespace chunkllm::serve {

Scheduler::Scheduler(const Model& model, const Tokenizer& tokenizer, const SessionParams& params, int n_slots,
                     int max_queue, ServerMetrics& metrics)
    : metrics_(metrics), max_queue_(max_queue) {
  for (int i = 0; i < n_slots; ++i) slots_.push_back(std::make_unique<Slot>(i, model, tokenizer, params, metrics));
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
    for (auto& slot : slots_) {
      if (!slot->busy() || slot->prefilling()) continue;
      run(*slot, [&] {
        const int32_t token = slot->NextToken();
        if (token >= 0) slot->Decode(token);
      });
    }
    int busy = 0;
    for (auto& slot : slots_) busy += slot->busy();
    std::lock_guard<std::mutex> lock(mu_);
    busy_ = busy;
    PublishLoad();
  }
}

}  // namespace chunkllm::serve
