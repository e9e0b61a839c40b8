// A one-line progress bar on stderr for long work (prefill, training, evaluation).
// It draws only when stderr is a terminal, so logs and pipes stay clean.
#pragma once

#include <cstdint>
#include <string>

namespace chunkllm {

class ProgressBar {
 public:
  // total: the number of units of work (tokens, steps); label: shown before the bar.
  ProgressBar(int64_t total, std::string label, bool enabled = true);
  ~ProgressBar();

  // Sets the amount done so far; extra is free text after the bar (loss, tokens/s, ...).
  void Update(int64_t done, const std::string& extra = "");
  // Clears the line. Called by the destructor too.
  void Finish();

  bool active() const { return active_; }

 private:
  int64_t total_;
  std::string label_;
  bool active_;
  double start_s_;
  double last_draw_s_ = 0.0;
};

// Formats seconds as "1h02m", "3m05s" or "12.3s".
std::string FormatDuration(double seconds);

}  // namespace chunkllm
