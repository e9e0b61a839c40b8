// Scheduler: the thread that runs the slots. HTTP handlers Submit tasks; the scheduler admits
// each waiting task to a free slot (the one whose prompt cache shares the longest prefix with it,
// else the one idle longest), then loops over rounds: one prefill micro-batch for every slot
// still prefilling, then one decode step for every slot generating, so a long prefill does not
// stall the others' tokens. The generating slots' decode steps run as one batch
// (model/session_batch.h): the weights are read once per round for all of them. Tasks beyond
// the slots wait in a bounded queue; Submit refuses a task when it is full. A cancelled task
// (its client went away) leaves its slot at the next round.
//
// Everything on the model runs on this one thread; slots are never touched by another.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "model/session_batch.h"
#include "serve/generation_task.h"
#include "serve/server_metrics.h"
#include "serve/slot.h"

namespace chunkllm::serve {

class Scheduler {
 public:
  // n_slots sessions of `params` (each allocates its KV cache now: Error if memory is short).
  Scheduler(const Model& model, const Tokenizer& tokenizer, const SessionParams& params, int n_slots, int max_queue,
            ServerMetrics& metrics);
  ~Scheduler();  // stops the thread; tasks still waiting or running get an error event

  // Queues a task; false (nothing queued) when max_queue tasks already wait for a slot.
  bool Submit(std::shared_ptr<GenerationTask> task);
  int n_slots() const { return int(slots_.size()); }

 private:
  void Loop();
  // Moves waiting tasks into free slots (mu_ held).
  void Admit();
  void PublishLoad();  // mu_ held

  ServerMetrics& metrics_;
  const int max_queue_;
  // Declared before the slots and the batch that use it, so it is freed after them; the batch
  // after the slots, so its graph (which holds the slots' policy nodes) goes first.
  std::unique_ptr<ggml_threadpool, void (*)(ggml_threadpool*)> pool_;
  std::vector<std::unique_ptr<Slot>> slots_;
  SessionBatch batch_;  // the generating slots' decode steps, one graph per round
  std::vector<uint64_t> last_used_;  // per slot: the admission count when it last took a task
  uint64_t admissions_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<GenerationTask>> queue_;
  int busy_ = 0;  // slots serving a task (updated under mu_)
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace chunkllm::serve
