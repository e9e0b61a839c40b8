// GenerationTask: one request as the scheduler runs it (its prompt tokens, sampling, limits and
// attention method) and the channel through which the scheduler reports back to the HTTP handler
// that waits for it: prefill progress, text deltas, then one end (a result or an error). The
// handler may cancel the task (its client went away); the scheduler then frees the slot at its
// next step.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "app/generation.h"
#include "chunk/policy_spec.h"
#include "serve/api_error.h"

namespace chunkllm::serve {

// What a finished generation reports (usage and the "chunkllm" extension object).
struct GenerationResult {
  FinishReason finish = FinishReason::kNone;
  int prompt_tokens = 0;      // the whole prompt
  int cached_tokens = 0;      // of which taken from the slot's prompt cache
  int completion_tokens = 0;  // generated (an end-of-generation token is not counted)
  std::string method;         // the attention method
  AttentionStats stats;       // decode steps of this request
  double prefill_s = 0, decode_s = 0;
  int slot = -1;
};

struct TaskEvent {
  enum class Kind { kProgress, kText, kDone, kError };
  Kind kind = Kind::kText;
  std::string text;           // kText
  // kProgress: prompt tokens processed (the cached ones included), of total, of which cached
  int done = 0, total = 0, cached = 0;
  GenerationResult result;    // kDone
  std::optional<ApiError> error;  // kError
};

class TaskChannel {
 public:
  void Push(TaskEvent e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(std::move(e));
    }
    cv_.notify_all();
  }
  // The next event, waiting at most `timeout`; nullopt if none came.
  std::optional<TaskEvent> Pop(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    TaskEvent e = std::move(events_.front());
    events_.pop_front();
    return e;
  }
  void Cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
  }
  bool cancelled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TaskEvent> events_;
  bool cancelled_ = false;
};

struct GenerationTask {
  std::vector<int32_t> prompt;  // tokens, BOS first as the tokenizer adds it
  SamplerParams sampler;
  int n_predict = -1;  // < 0: until an end-of-generation token or a full context
  std::vector<std::string> stop;
  bool return_progress = false;
  bool ignore_eos = false;
  const PolicySpec* spec = nullptr;  // the attention method; owned by the server
  TaskChannel channel;
};

}  // namespace chunkllm::serve
