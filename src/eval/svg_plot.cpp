#include "eval/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/file_util.h"

namespace chunkllm {
namespace {

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string Escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string Num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

std::string TickLabel(double v) {
  char b[32];
  if (v != 0 && (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-3)) {
    std::snprintf(b, sizeof b, "%.0e", v);
  } else {
    std::snprintf(b, sizeof b, "%g", v);
  }
  return b;
}

std::string Text(double x, double y, const std::string& s, const char* anchor = "middle", int size = 12,
                 const char* extra = "") {
  return "<text x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" font-size=\"" + std::to_string(size) +
         "\" text-anchor=\"" + anchor + "\" font-family=\"sans-serif\"" + extra + ">" + Escape(s) + "</text>\n";
}

}  // namespace

std::vector<double> NiceTicks(double lo, double hi, bool log_scale, int target) {
  std::vector<double> t;
  if (!(hi >= lo) || !std::isfinite(lo) || !std::isfinite(hi)) return t;
  if (log_scale) {
    for (double p = std::floor(std::log10(lo)); p <= std::ceil(std::log10(hi)) + 1e-9; p += 1) t.push_back(std::pow(10, p));
    return t;
  }
  if (hi == lo) hi = lo + 1;
  const double raw = (hi - lo) / std::max(1, target - 1), mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) { step = m * mag; break; }
  }
  for (double v = std::floor(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  return t;
}

std::string LinePlot::ToSvg() const {
  const double L = 70, R = 160, T = 40, B = 50, pw = width - L - R, ph = height - T - B;
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                  std::to_string(height) + "\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += Text(width / 2.0, 22, title, "middle", 15);
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  auto ok = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!log_x || x > 0) && (!log_y || y > 0);
  };
  for (const auto& se : series)
    for (size_t i = 0; i < std::min(se.x.size(), se.y.size()); ++i)
      if (ok(se.x[i], se.y[i])) x0 = std::min(x0, se.x[i]), x1 = std::max(x1, se.x[i]), y0 = std::min(y0, se.y[i]), y1 = std::max(y1, se.y[i]);
  if (!(x0 <= x1)) return s + Text(width / 2.0, height / 2.0, "no data") + "</svg>\n";
  const std::vector<double> xt = NiceTicks(x0, x1, log_x), yt = NiceTicks(y0, y1, log_y);
  x0 = std::min(x0, xt.front()), x1 = std::max(x1, xt.back()), y0 = std::min(y0, yt.front()), y1 = std::max(y1, yt.back());
  auto fx = [&](double x) {
    const double a = log_x ? std::log10(x) : x, lo = log_x ? std::log10(x0) : x0, hi = log_x ? std::log10(x1) : x1;
    return L + (hi > lo ? (a - lo) / (hi - lo) : 0.5) * pw;
  };
  auto fy = [&](double y) {
    const double a = log_y ? std::log10(y) : y, lo = log_y ? std::log10(y0) : y0, hi = log_y ? std::log10(y1) : y1;
    return T + ph - (hi > lo ? (a - lo) / (hi - lo) : 0.5) * ph;
  };
  for (double v : xt) {
    s += "<line x1=\"" + Num(fx(v)) + "\" y1=\"" + Num(T) + "\" x2=\"" + Num(fx(v)) + "\" y2=\"" + Num(T + ph) + "\" stroke=\"#ddd\"/>\n";
    s += Text(fx(v), T + ph + 16, TickLabel(v), "middle", 11);
  }
  for (double v : yt) {
    s += "<line x1=\"" + Num(L) + "\" y1=\"" + Num(fy(v)) + "\" x2=\"" + Num(L + pw) + "\" y2=\"" + Num(fy(v)) + "\" stroke=\"#ddd\"/>\n";
    s += Text(L - 6, fy(v) + 4, TickLabel(v), "end", 11);
  }
  s += "<rect x=\"" + Num(L) + "\" y=\"" + Num(T) + "\" width=\"" + Num(pw) + "\" height=\"" + Num(ph) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  s += Text(L + pw / 2, height - 10, x_label);
  s += Text(16, T + ph / 2, y_label, "middle", 12, (" transform=\"rotate(-90 16 " + Num(T + ph / 2) + ")\"").c_str());
  for (size_t k = 0; k < series.size(); ++k) {
    const PlotSeries& se = series[k];
    const std::string color = kPalette[k % 8];
    std::string pts;
    auto flush = [&] {
      if (lines && !pts.empty()) s += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.5\" points=\"" + pts + "\"/>\n";
      pts.clear();
    };
    for (size_t i = 0; i < std::min(se.x.size(), se.y.size()); ++i) {
      if (!ok(se.x[i], se.y[i])) { flush(); continue; }
      pts += (pts.empty() ? "" : " ") + Num(fx(se.x[i])) + "," + Num(fy(se.y[i]));
      if (markers) s += "<circle cx=\"" + Num(fx(se.x[i])) + "\" cy=\"" + Num(fy(se.y[i])) + "\" r=\"3.5\" fill=\"" + color + "\"/>\n";
      if (i < se.labels.size() && !se.labels[i].empty()) s += Text(fx(se.x[i]) + 5, fy(se.y[i]) - 5, se.labels[i], "start", 10);
    }
    flush();
    const double ly = T + 14 + 18 * double(k);
    s += "<rect x=\"" + Num(L + pw + 12) + "\" y=\"" + Num(ly - 9) + "\" width=\"12\" height=\"10\" fill=\"" + color + "\"/>\n";
    s += Text(L + pw + 30, ly, se.name, "start", 11);
  }
  return s + "</svg>\n";
}

std::string HeatMap::ToSvg() const {
  const int L = 90, T = 50, rows = int(values.size());
  const int cols = rows ? int(values[0].size()) : 0;
  const int w = L + cols * cell_width + 20, h = T + rows * cell_height + 60;
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(w) + "\" height=\"" +
                  std::to_string(h) + "\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += Text(w / 2.0, 22, title, "middle", 15);
  for (int r = 0; r < rows; ++r) {
    if (r < int(row_labels.size())) s += Text(L - 6, T + r * cell_height + cell_height / 2.0 + 4, row_labels[size_t(r)], "end", 11);
    for (int c = 0; c < cols && c < int(values[size_t(r)].size()); ++c) {
      const double v = values[size_t(r)][size_t(c)];
      std::string fill = "#bbbbbb";
      if (std::isfinite(v)) {
        const double t = std::clamp(max > min ? (v - min) / (max - min) : 0.5, 0.0, 1.0);
        char b[16];
        std::snprintf(b, sizeof b, "#%02x%02x%02x", int(215 - 170 * t), int(48 + 140 * t), int(39 + 30 * t));
        fill = b;
      }
      const double x = L + c * cell_width, y = T + r * cell_height;
      s += "<rect x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" width=\"" + std::to_string(cell_width) + "\" height=\"" +
           std::to_string(cell_height) + "\" fill=\"" + fill + "\" stroke=\"white\"/>\n";
      if (std::isfinite(v)) s += Text(x + cell_width / 2.0, y + cell_height / 2.0 + 4, std::to_string(int(std::lround(v * cell_scale))) + cell_suffix, "middle", 10);
    }
  }
  for (int c = 0; c < cols && c < int(col_labels.size()); ++c) {
    s += Text(L + c * cell_width + cell_width / 2.0, T + rows * cell_height + 16, col_labels[size_t(c)], "middle", 10);
  }
  s += Text(L + cols * cell_width / 2.0, T + rows * cell_height + 38, x_label);
  s += Text(14, T + rows * cell_height / 2.0, y_label, "middle", 12,
            (" transform=\"rotate(-90 14 " + Num(T + rows * cell_height / 2.0) + ")\"").c_str());
  return s + "</svg>\n";
}

void WriteSvg(const std::string& path, const std::string& svg) { WriteTextFile(path, svg); }

}  // namespace chunkllm
