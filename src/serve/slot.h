// Slot: one of the server's -np sequences. It owns a Session (its KV cache) and the attention
// policy of the method it last served (its chunk index), and runs one GenerationTask at a time:
// the prompt's prefill in micro-batches, then token by token.
//
// Prompt cache: after a task the slot keeps the K/V (and the policy's index) of its prompt and of
// the tokens it decoded. A new task of the same method that starts with the same tokens keeps that
// prefix and prefills only the rest: the session and the policy are truncated to the longest
// shared prefix the policy can go back to (AttentionPolicy::CanTruncate: any position for dense
// and the window baselines; for ChunkLLM the end of the last prompt, or 0: a full prefill). The
// logits after the last prompt are kept too, so the same prompt again prefills nothing.
//
// The prefill always runs at least two tokens at once when the prompt has two (the policies treat
// a one-token batch as a decode step); a cached prefix is shortened for that if needed.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "app/generation.h"
#include "model/session.h"
#include "serve/generation_task.h"
#include "serve/server_metrics.h"
#include "serve/text_emitter.h"
#include "text/tokenizer.h"

namespace chunkllm::serve {

class Slot {
 public:
  Slot(int id, const Model& model, const Tokenizer& tokenizer, const SessionParams& params, ServerMetrics& metrics);

  int id() const { return id_; }
  bool busy() const { return task_ != nullptr; }
  bool prefilling() const { return busy() && prefill_pos_ < int(task_->prompt.size()); }
  // How many leading tokens of `prompt` the cache holds for `spec`'s method (0 for another one).
  int SharedPrefix(const std::vector<int32_t>& prompt, const PolicySpec* spec) const;

  // Takes a task (the slot must be free): keeps what it can of the cache and starts the prefill.
  void Start(std::shared_ptr<GenerationTask> task);
  // One micro-batch of the prompt (prefilling() must hold). Reports progress when asked to.
  void PrefillStep();
  // Generating: draws the next token and sends its text; returns the token to decode next, or -1
  // when the generation ended (the result is sent, the slot is free again). A cancelled task ends
  // here too.
  int32_t NextToken();
  // Decodes the token NextToken returned, on this slot's own session.
  void Decode(int32_t token);
  // The token NextToken returned was decoded on session() by a batch of slots (SessionBatch).
  void Decoded(int32_t token) { cached_.push_back(token); }
  // Ends the task with a server error (the slot's cache is dropped: its state is unknown).
  void Fail(const std::string& message);

  Session& session() { return session_; }

 private:
  // Reports the prompt tokens processed so far, when the request asked for progress.
  void PushProgress();
  void Finish();

  int id_;
  const Tokenizer& tokenizer_;
  ServerMetrics& metrics_;
  std::unique_ptr<AttentionPolicy> policy_;  // null until the first task: the session's dense one
  const PolicySpec* spec_ = nullptr;         // the method policy_ is of
  Session session_;
  std::vector<int32_t> cached_;       // the tokens whose K/V the session holds, in order
  std::vector<float> prompt_logits_;  // the logits after the last prompt's final token
  int prompt_logits_len_ = -1;        // that prompt's length (-1: none kept)

  // The task being served.
  std::shared_ptr<GenerationTask> task_;
  std::optional<Generation> generation_;
  std::optional<TextEmitter> emitter_;
  int prefill_pos_ = 0;   // the next prompt token to prefill
  int n_cached_ = 0;      // prompt tokens taken from the cache
  bool use_prompt_logits_ = false;
  double t_start_ = 0, t_prefill_end_ = 0;
};

}  // namespace chunkllm::serve
