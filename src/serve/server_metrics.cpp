#include "serve/server_metrics.h"

#include <sstream>

namespace chunkllm::serve {

void ServerMetrics::CountRequest(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
}

void ServerMetrics::CountGeneration(int prefilled, int cached, int generated, double prefill_s, double decode_s,
                                    const AttentionStats& stats) {
  std::lock_guard<std::mutex> lock(mu_);
  ++generations_;
  prefilled_ += prefilled, cached_ += cached, generated_ += generated;
  prefill_s_ += prefill_s, decode_s_ += decode_s;
  attended_ += stats.attended_sum, resident_ += stats.resident_sum, seen_ += stats.cached_sum;
}

void ServerMetrics::CountDecodeRound(int n_slots) {
  std::lock_guard<std::mutex> lock(mu_);
  ++decode_rounds_;
  decode_round_slots_ += n_slots;
}

void ServerMetrics::SlotStarted() {
  std::lock_guard<std::mutex> lock(mu_);
  ++busy_;
}

void ServerMetrics::SlotEnded() {
  std::lock_guard<std::mutex> lock(mu_);
  --busy_;
}

void ServerMetrics::SetQueue(int queued, int n_slots) {
  std::lock_guard<std::mutex> lock(mu_);
  queued_ = queued, n_slots_ = n_slots;
}

std::string ServerMetrics::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream o;
  o.precision(17);
  const auto header = [&](const char* name, const char* type, const char* help) {
    o << "# HELP chunkllm_" << name << ' ' << help << "\n# TYPE chunkllm_" << name << ' ' << type << '\n';
  };
  header("requests_total", "counter", "HTTP requests by endpoint and status");
  for (const auto& [key, n] : requests_) {
    o << "chunkllm_requests_total{endpoint=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << '\n';
  }
  struct Metric {
    const char* name;
    const char* type;
    const char* help;
    double value;
  };
  const Metric metrics[] = {
      {"generations_total", "counter", "completions generated to their end", double(generations_)},
      {"prompt_tokens_total", "counter", "prompt tokens prefilled", double(prefilled_)},
      {"prompt_cached_tokens_total", "counter", "prompt tokens taken from a slot's prompt cache", double(cached_)},
      {"generated_tokens_total", "counter", "tokens generated", double(generated_)},
      {"prompt_seconds_total", "counter", "seconds of prefill, summed over requests", prefill_s_},
      {"decode_seconds_total", "counter", "seconds of decoding, summed over requests", decode_s_},
      {"prompt_tokens_per_second", "gauge", "prompt tokens prefilled per second of prefill",
       prefill_s_ > 0 ? double(prefilled_) / prefill_s_ : 0.0},
      {"decode_tokens_per_second", "gauge", "tokens generated per second of decoding (per request)",
       decode_s_ > 0 ? double(generated_) / decode_s_ : 0.0},
      {"decode_rounds_total", "counter", "decode steps run, each for every generating slot at once",
       double(decode_rounds_)},
      {"decode_round_slots_total", "counter", "slots decoded, summed over decode steps", double(decode_round_slots_)},
      {"slots_per_decode", "gauge", "slots decoded per decode step (the batch's mean size)",
       decode_rounds_ > 0 ? double(decode_round_slots_) / double(decode_rounds_) : 0.0},
      {"slots_busy", "gauge", "slots serving a request", double(busy_)},
      {"slots_total", "gauge", "slots (-np)", double(n_slots_)},
      {"requests_queued", "gauge", "requests waiting for a slot", double(queued_)},
      {"kv_attended_fraction", "gauge",
       "share of the cached KV positions that decode steps read, over every step served (1: dense)",
       seen_ > 0 ? attended_ / seen_ : 1.0},
      {"kv_resident_fraction", "gauge", "share of the cached KV positions kept in memory, over every step served",
       seen_ > 0 ? resident_ / seen_ : 1.0},
  };
  for (const Metric& m : metrics) {
    header(m.name, m.type, m.help);
    o << "chunkllm_" << m.name << ' ' << m.value << '\n';
  }
  return o.str();
}

}  // namespace chunkllm::serve
