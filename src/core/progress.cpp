#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

#include "core/timer.h"

namespace chunkllm {

ProgressBar::ProgressBar(int64_t total, std::string label, bool enabled)
    : total_(total > 0 ? total : 1), label_(std::move(label)),
      active_(enabled && isatty(STDERR_FILENO)), start_s_(NowSeconds()) {}

ProgressBar::~ProgressBar() { Finish(); }

void ProgressBar::Update(int64_t done, const std::string& extra) {
  if (!active_) return;
  const double now = NowSeconds();
  // Redraw at most 10 times a second, but always draw the last update.
  if (done < total_ && now - last_draw_s_ < 0.1) return;
  last_draw_s_ = now;
  const int width = 30;
  const double frac = done >= total_ ? 1.0 : double(done) / double(total_);
  const int filled = int(frac * width);
  std::string bar(filled, '#');
  bar.resize(width, '.');
  const double elapsed = now - start_s_;
  const double eta = frac > 0 ? elapsed * (1.0 - frac) / frac : 0.0;
  std::fprintf(stderr, "\r\033[K%s [%s] %3d%% %lld/%lld  eta %s %s", label_.c_str(), bar.c_str(),
               int(frac * 100), (long long)done, (long long)total_, FormatDuration(eta).c_str(),
               extra.c_str());
  std::fflush(stderr);
}

void ProgressBar::Finish() {
  if (!active_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  active_ = false;
}

std::string FormatDuration(double s) {
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  }
  return buf;
}

}  // namespace chunkllm
