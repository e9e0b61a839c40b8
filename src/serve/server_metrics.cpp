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
  const auto metric = [&](const char* name, const char* type, const char* help) {
    o << "# HELP chunkllm_" << name << ' ' << help << "\n# TYPE chunkllm_" << name << ' ' << type << '\n';
  };
  metric("requests_total", "counter", "HTTP requests by endpoint and status");
  for (const auto& [key, n] : requests_) {
    o << "chunkllm_requests_total{endpoint=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << '\n';
  }
  metric("generations_total", "counter", "completions generated to their end");
  o << "chunkllm_generations_total " << generations_ << '\n';
  metric("prompt_tokens_total", "counter", "prompt tokens prefilled");
  o << "chunkllm_prompt_tokens_total " << prefilled_ << '\n';
  metric("prompt_cached_tokens_total", "counter", "prompt tokens taken from a slot's prompt cache");
  o << "chunkllm_prompt_cached_tokens_total " << cached_ << '\n';
  metric("generated_tokens_total", "counter", "tokens generated");
  o << "chunkllm_generated_tokens_total " << generated_ << '\n';
  metric("prompt_seconds_total", "counter", "seconds of prefill, summed over requests");
  o << "chunkllm_prompt_seconds_total " << prefill_s_ << '\n';
  metric("decode_seconds_total", "counter", "seconds of decoding, summed over requests");
  o << "chunkllm_decode_seconds_total " << decode_s_ << '\n';
  metric("prompt_tokens_per_second", "gauge", "prompt tokens prefilled per second of prefill");
  o << "chunkllm_prompt_tokens_per_second " << (prefill_s_ > 0 ? double(prefilled_) / prefill_s_ : 0.0) << '\n';
  metric("decode_tokens_per_second", "gauge", "tokens generated per second of decoding (per request)");
  o << "chunkllm_decode_tokens_per_second " << (decode_s_ > 0 ? double(generated_) / decode_s_ : 0.0) << '\n';
  metric("slots_busy", "gauge", "slots serving a request");
  o << "chunkllm_slots_busy " << busy_ << '\n';
  metric("slots_total", "gauge", "slots (-np)");
  o << "chunkllm_slots_total " << n_slots_ << '\n';
  metric("requests_queued", "gauge", "requests waiting for a slot");
  o << "chunkllm_requests_queued " << queued_ << '\n';
  metric("kv_attended_fraction", "gauge",
         "share of the cached KV positions that decode steps read, over every step served (1: dense)");
  o << "chunkllm_kv_attended_fraction " << (seen_ > 0 ? attended_ / seen_ : 1.0) << '\n';
  metric("kv_resident_fraction", "gauge", "share of the cached KV positions kept in memory, over every step served");
  o << "chunkllm_kv_resident_fraction " << (seen_ > 0 ? resident_ / seen_ : 1.0) << '\n';
  return o.str();
}

}  // namespace chunkllm::serve
