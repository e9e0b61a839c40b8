// ServerMetrics: the server's counters since start-up, for GET /metrics in Prometheus' text
// format: requests (by endpoint and outcome), prompt tokens (prefilled and taken from the prompt
// cache), generated tokens, the time spent prefilling and decoding (so tokens/s), decode steps
// and the slots each one batched, busy slots and queued requests, and ChunkLLM's attended and
// resident KV fractions over every decode step served. Thread-safe: handlers and the scheduler
// update it, /metrics reads it.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "model/attention_policy.h"

namespace chunkllm::serve {

class ServerMetrics {
 public:
  // One request answered (or refused) on `endpoint` ("chat", "completion", ...) with `status`.
  void CountRequest(const std::string& endpoint, int status);
  // A finished generation: its prompt tokens prefilled and taken from the cache, tokens
  // generated, seconds prefilling and decoding, and its policy's statistics.
  void CountGeneration(int prefilled, int cached, int generated, double prefill_s, double decode_s,
                       const AttentionStats& stats);
  // One decode step of the scheduler, for n_slots generating slots at once (one batch).
  void CountDecodeRound(int n_slots);
  // A slot took a task / ended it. A slot reports its end before the task's last event, so a
  // client that has its answer never reads its slot as busy.
  void SlotStarted();
  void SlotEnded();
  // Requests waiting for a slot, and the number of slots.
  void SetQueue(int queued, int n_slots);
  // The Prometheus text exposition.
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  int64_t prefilled_ = 0, cached_ = 0, generated_ = 0, generations_ = 0;
  double prefill_s_ = 0, decode_s_ = 0;
  double attended_ = 0, resident_ = 0, seen_ = 0;  // sums over decode steps of KV positions
  int64_t decode_rounds_ = 0, decode_round_slots_ = 0;
  int busy_ = 0, queued_ = 0, n_slots_ = 0;
};

}  // namespace chunkllm::serve
