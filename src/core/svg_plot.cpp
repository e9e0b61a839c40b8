#include "core/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <utility>

#include "core/file_util.h"

namespace chunkllm {
namespace {

// Series k takes colour k % 10 (matplotlib's tab10, well apart) and marker k % 7, so no two of
// the first 70 series look alike. Lines without markers are told apart past the tenth series
// by dashes instead.
const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
const char* kMarkers[] = {"circle", "square", "triangle", "diamond", "triangle-down", "plus", "cross"};
const char* kDashes[] = {"", "6,3", "2,2", "8,3,2,3"};

struct Style {
  const char* colour;
  const char* marker;  // "none" when the plot draws no markers
  const char* dash;    // "" = solid
};

Style StyleOf(size_t k, bool markers) {
  return {kPalette[k % 10], markers ? kMarkers[k % 7] : "none", markers ? "" : kDashes[(k / 10) % 4]};
}

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

// A value in a data attribute: exact enough for a test to compare with its inputs.
std::string Data(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.10g", v);
  return b;
}

std::string TickLabel(double v) {
  char b[32];
  if (v != 0 && (std::fabs(v) >= 1e6 || std::fabs(v) < 1e-3)) {
    std::snprintf(b, sizeof b, "%.0e", v);
  } else {
    std::snprintf(b, sizeof b, "%g", v);
  }
  return b;
}

std::string Text(double x, double y, const std::string& s, const char* anchor = "middle", int size = 12,
                 const std::string& extra = "") {
  return "<text x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" font-size=\"" + std::to_string(size) +
         "\" text-anchor=\"" + anchor + "\" font-family=\"sans-serif\"" + extra + ">" + Escape(s) + "</text>\n";
}

std::string SvgHead(double w, double h) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(int(std::ceil(w))) + "\" height=\"" +
         std::to_string(int(std::ceil(h))) +
         "\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
}

// A marker centred on the origin, about 8 px across (the shapes' areas roughly equal).
std::string MarkerPath(const std::string& shape) {
  if (shape == "circle") return "M-4,0a4,4 0 1,0 8,0a4,4 0 1,0 -8,0z";
  std::vector<std::pair<double, double>> v;
  if (shape == "square") {
    v = {{-3.5, -3.5}, {3.5, -3.5}, {3.5, 3.5}, {-3.5, 3.5}};
  } else if (shape == "triangle" || shape == "triangle-down") {
    v = {{0, -4.8}, {4.4, 3.2}, {-4.4, 3.2}};
  } else if (shape == "diamond") {
    v = {{0, -5}, {4, 0}, {0, 5}, {-4, 0}};
  } else {  // plus, and cross (a plus turned by 45 degrees)
    v = {{-1.5, -5}, {1.5, -5}, {1.5, -1.5}, {5, -1.5}, {5, 1.5}, {1.5, 1.5},
         {1.5, 5}, {-1.5, 5}, {-1.5, 1.5}, {-5, 1.5}, {-5, -1.5}, {-1.5, -1.5}};
  }
  std::string d;
  for (auto [x, y] : v) {
    if (shape == "triangle-down") y = -y;
    if (shape == "cross") std::tie(x, y) = std::pair((x - y) / std::numbers::sqrt2, (x + y) / std::numbers::sqrt2);
    d += (d.empty() ? "M" : "L") + Num(x) + "," + Num(y);
  }
  return d + "z";
}

// A marker at (x, y); the white rim keeps overlapping markers apart.
std::string Marker(double x, double y, const Style& st, size_t k, const char* cls) {
  return std::string("<path class=\"") + cls + "\" data-series=\"" + std::to_string(k) + "\" data-marker=\"" +
         st.marker + "\" transform=\"translate(" + Num(x) + "," + Num(y) + ")\" d=\"" + MarkerPath(st.marker) +
         "\" fill=\"" + st.colour + "\" stroke=\"white\" stroke-width=\"0.6\"/>\n";
}

std::string LineStyle(const Style& st) {
  return std::string(" fill=\"none\" stroke=\"") + st.colour + "\" stroke-width=\"1.5\"" +
         (*st.dash ? std::string(" stroke-dasharray=\"") + st.dash + "\"" : "");
}

struct Axis {
  double lo, hi;  // hi > lo
  bool log;
  std::vector<double> ticks;
  double Frac(double v) const {  // 0 at lo, 1 at hi
    return log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
  }
};

// The axis over the data's [lo, hi] and the natural range asked for (a bound a log axis cannot
// show, <= 0, is ignored): a bound asked for and holding the data is the axis's end exactly;
// the other ends are rounded out to ticks.
Axis MakeAxis(double lo, double hi, std::optional<double> min, std::optional<double> max, bool log) {
  const bool fixed_lo = min && (!log || *min > 0) && *min <= lo, fixed_hi = max && (!log || *max > 0) && *max >= hi;
  if (fixed_lo) lo = *min;
  if (fixed_hi) hi = *max;
  Axis a{lo, hi, log, NiceTicks(lo, hi, log)};
  if (!fixed_lo) a.lo = std::min(lo, a.ticks.front());
  if (!fixed_hi) a.hi = std::max(hi, a.ticks.back());
  if (!(a.hi > a.lo)) a.lo = a.ticks.front(), a.hi = a.ticks.back();  // a range of one value, asked for
  const double eps = 1e-9 * (a.hi - a.lo);
  std::erase_if(a.ticks, [&](double t) { return t < a.lo - eps || t > a.hi + eps; });
  // An end asked for that is no tick (0.93, or 0.5 on a log axis) is labelled all the same.
  if (fixed_lo && (a.ticks.empty() || a.ticks.front() > a.lo + eps)) a.ticks.insert(a.ticks.begin(), a.lo);
  if (fixed_hi && a.ticks.back() < a.hi - eps) a.ticks.push_back(a.hi);
  return a;
}

}  // namespace

double TextWidth(const std::string& text, double font_size) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;  // UTF-8 continuation bytes are not characters
  return 0.6 * font_size * double(n);
}

std::vector<double> NiceTicks(double lo, double hi, bool log_scale, int target) {
  std::vector<double> t;
  if (!(hi >= lo) || !std::isfinite(lo) || !std::isfinite(hi) || (log_scale && lo <= 0)) return t;
  if (log_scale) {
    double p0 = std::floor(std::log10(lo) + 1e-9), p1 = std::ceil(std::log10(hi) - 1e-9);
    if (p0 == p1) p0 -= 1, p1 += 1;  // one power of ten: a decade either side
    // At most ~10 labelled decades: every second (third, ...) over a wide range.
    const double stride = std::max(1.0, std::ceil((p1 - p0) / 10));
    p0 = std::floor(p0 / stride) * stride, p1 = std::ceil(p1 / stride) * stride;
    for (double p = p0; p <= p1 + 1e-9; p += stride) t.push_back(std::pow(10, p));
    return t;
  }
  if (hi == lo) {  // one value: a tenth of it either side (1 either side of 0), so it sits mid-axis
    const double d = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= d, hi += d;
  }
  // The first tick at or below lo, the last at or above hi, so the ticks cover every value; the
  // finest 1-2-5 step that needs at most target + 2 of them (not the first step at least
  // (hi - lo) / target, which can leave most of a tick's width empty past the data).
  const double mag = std::pow(10, std::floor(std::log10((hi - lo) / std::max(1, target - 1))) - 1);
  double step = mag, i0 = 0, i1 = 0;
  for (int e = 0; e < 4; ++e) {
    for (double m : {1.0, 2.0, 5.0}) {
      step = m * mag * std::pow(10, e);
      i0 = std::floor(lo / step + 1e-9), i1 = std::ceil(hi / step - 1e-9);
      if (i1 - i0 + 1 <= target + 2) break;
    }
    if (i1 - i0 + 1 <= target + 2) break;
  }
  for (double i = i0; i <= i1; ++i) t.push_back(i == 0 ? 0 : i * step);
  return t;
}

std::string LinePlot::ToSvg() const {
  auto ok = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!log_x || x > 0) && (!log_y || y > 0);
  };
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& se : series)
    for (size_t i = 0; i < std::min(se.x.size(), se.y.size()); ++i)
      if (ok(se.x[i], se.y[i])) x0 = std::min(x0, se.x[i]), x1 = std::max(x1, se.x[i]), y0 = std::min(y0, se.y[i]), y1 = std::max(y1, se.y[i]);
  if (!(x0 <= x1)) {
    return SvgHead(width, height) + Text(width / 2.0, 22, title, "middle", 15, " class=\"title\"") +
           Text(width / 2.0, height / 2.0, "no data") + "</svg>\n";
  }
  const Axis ax = MakeAxis(x0, x1, x_min, x_max, log_x), ay = MakeAxis(y0, y1, y_min, y_max, log_y);
  auto label = [](double v, bool percent) { return percent ? TickLabel(100 * v) + "%" : TickLabel(v); };

  // Left: the rotated y label, then the widest y tick label. The plot area keeps the size
  // width and height give it; the legend on the right is as wide as its longest name, the SVG
  // as wide as the legend or the title needs and as tall as the legend.
  double tick_w = 0, name_w = 0;
  for (double v : ay.ticks) tick_w = std::max(tick_w, TextWidth(label(v, y_percent), 11));
  for (const auto& se : series) name_w = std::max(name_w, TextWidth(se.name, 11));
  const double L = std::max(70.0, 32 + tick_w), T = 40, pw = std::max(160.0, width - 230.0),
               ph = std::max(120.0, height - 90.0), lx = L + pw + 12;
  const double W = std::max({double(width), lx + 30 + name_w + 10, TextWidth(title, 15) + 20,
                             L + pw / 2 + TextWidth(x_label, 12) / 2 + 10});
  const double H = std::max(double(height), T + 18.0 * double(series.size()) + 20);
  auto px = [&](double x) { return L + ax.Frac(x) * pw; };
  auto py = [&](double y) { return T + ph - ay.Frac(y) * ph; };

  std::string s = SvgHead(W, H) + Text(W / 2, 22, title, "middle", 15, " class=\"title\"");
  for (double v : ax.ticks) {
    s += "<line x1=\"" + Num(px(v)) + "\" y1=\"" + Num(T) + "\" x2=\"" + Num(px(v)) + "\" y2=\"" + Num(T + ph) + "\" stroke=\"#ddd\"/>\n";
    s += Text(px(v), T + ph + 16, label(v, x_percent), "middle", 11, " class=\"x-tick\" data-value=\"" + Data(v) + "\"");
  }
  for (double v : ay.ticks) {
    s += "<line x1=\"" + Num(L) + "\" y1=\"" + Num(py(v)) + "\" x2=\"" + Num(L + pw) + "\" y2=\"" + Num(py(v)) + "\" stroke=\"#ddd\"/>\n";
    s += Text(L - 6, py(v) + 4, label(v, y_percent), "end", 11, " class=\"y-tick\" data-value=\"" + Data(v) + "\"");
  }
  s += "<rect class=\"plot-area\" x=\"" + Num(L) + "\" y=\"" + Num(T) + "\" width=\"" + Num(pw) + "\" height=\"" +
       Num(ph) + "\" fill=\"none\" stroke=\"#333\" data-x-min=\"" + Data(ax.lo) + "\" data-x-max=\"" + Data(ax.hi) +
       "\" data-y-min=\"" + Data(ay.lo) + "\" data-y-max=\"" + Data(ay.hi) + "\" data-log-x=\"" + (log_x ? "1" : "0") +
       "\" data-log-y=\"" + (log_y ? "1" : "0") + "\"/>\n";
  s += Text(L + pw / 2, T + ph + 40, x_label, "middle", 12, " class=\"x-label\"");
  s += Text(16, T + ph / 2, y_label, "middle", 12,
            " class=\"y-label\" transform=\"rotate(-90 16 " + Num(T + ph / 2) + ")\"");

  std::string marks;  // drawn after every line, so no line hides a marker
  for (size_t k = 0; k < series.size(); ++k) {
    const PlotSeries& se = series[k];
    const Style st = StyleOf(k, markers);
    std::string pts;
    auto flush = [&] {
      if (lines && !pts.empty()) {
        s += "<polyline class=\"line\" data-series=\"" + std::to_string(k) + "\"" + LineStyle(st) + " points=\"" + pts + "\"/>\n";
      }
      pts.clear();
    };
    for (size_t i = 0; i < std::min(se.x.size(), se.y.size()); ++i) {
      if (!ok(se.x[i], se.y[i])) { flush(); continue; }
      const double x = px(se.x[i]), y = py(se.y[i]);
      pts += (pts.empty() ? "" : " ") + Num(x) + "," + Num(y);
      if (markers) marks += Marker(x, y, st, k, "point");
      if (i < se.labels.size() && !se.labels[i].empty()) marks += Text(x + 5, y - 5, se.labels[i], "start", 10, " class=\"point-label\"");
    }
    flush();
  }
  s += marks;

  // The legend: each series' line sample and marker as drawn, and its whole name.
  s += "<g class=\"legend\">\n";
  for (size_t k = 0; k < series.size(); ++k) {
    const Style st = StyleOf(k, markers);
    const double ly = T + 14 + 18 * double(k);
    s += "<g class=\"legend-item\" data-series=\"" + std::to_string(k) + "\" data-colour=\"" + st.colour +
         "\" data-marker=\"" + st.marker + "\" data-dash=\"" + st.dash + "\">\n";
    if (lines) s += "<line x1=\"" + Num(lx) + "\" y1=\"" + Num(ly - 4) + "\" x2=\"" + Num(lx + 24) + "\" y2=\"" + Num(ly - 4) + "\"" + LineStyle(st) + "/>\n";
    if (markers) s += Marker(lx + 12, ly - 4, st, k, "legend-marker");
    s += Text(lx + 30, ly, series[k].name, "start", 11, " class=\"legend-entry\" data-series=\"" + std::to_string(k) + "\"");
    s += "</g>\n";
  }
  return s + "</g>\n</svg>\n";
}

std::string HeatMap::ToSvg() const {
  const int rows = int(values.size());
  const int cols = rows ? int(values[0].size()) : 0;
  // The colour scale: [min, max], grown to every value so no cell's colour is clamped.
  double lo = min, hi = max;
  for (const auto& row : values)
    for (double v : row)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  auto cell_text = [&](double v) { return std::to_string(int(std::lround(v * cell_scale))) + cell_suffix; };
  auto colour = [&](double v) {
    const double t = std::clamp(hi > lo ? (v - lo) / (hi - lo) : 0.5, 0.0, 1.0);
    char b[16];
    std::snprintf(b, sizeof b, "#%02x%02x%02x", int(215 - 170 * t), int(48 + 140 * t), int(39 + 30 * t));
    return std::string(b);
  };
  // Cells as wide as their text and column labels; the left margin as wide as the row labels.
  double cw = cell_width, row_w = 0;
  for (const auto& l : col_labels) cw = std::max(cw, TextWidth(l, 10) + 6);
  for (const auto& row : values)
    for (double v : row)
      if (std::isfinite(v)) cw = std::max(cw, TextWidth(cell_text(v), 10) + 6);
  for (const auto& l : row_labels) row_w = std::max(row_w, TextWidth(l, 11));
  const double L = std::max(90.0, 32 + row_w), T = 50, ch = cell_height, grid_w = cols * cw, grid_b = T + rows * ch;
  const double key_y = grid_b + 50, key_w = 120;
  const double W = std::max({L + grid_w + 20, TextWidth(title, 15) + 20, L + key_w + 4 + TextWidth(cell_text(hi), 10) + 10,
                             L + grid_w / 2 + TextWidth(x_label, 12) / 2 + 10});
  const double H = key_y + 22;

  std::string s = SvgHead(W, H) + Text(W / 2, 22, title, "middle", 15, " class=\"title\"");
  for (int r = 0; r < rows; ++r) {
    if (r < int(row_labels.size())) s += Text(L - 6, T + r * ch + ch / 2 + 4, row_labels[size_t(r)], "end", 11, " class=\"row-label\"");
    for (int c = 0; c < cols && c < int(values[size_t(r)].size()); ++c) {
      const double v = values[size_t(r)][size_t(c)], x = L + c * cw, y = T + r * ch;
      s += "<rect class=\"cell\" data-row=\"" + std::to_string(r) + "\" data-col=\"" + std::to_string(c) +
           "\" data-value=\"" + Data(v) + "\" x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" width=\"" + Num(cw) +
           "\" height=\"" + Num(ch) + "\" fill=\"" + (std::isfinite(v) ? colour(v) : "#bbbbbb") + "\" stroke=\"white\"/>\n";
      if (std::isfinite(v)) s += Text(x + cw / 2, y + ch / 2 + 4, cell_text(v), "middle", 10, " class=\"cell-text\"");
    }
  }
  for (int c = 0; c < cols && c < int(col_labels.size()); ++c) {
    s += Text(L + c * cw + cw / 2, grid_b + 16, col_labels[size_t(c)], "middle", 10, " class=\"col-label\"");
  }
  s += Text(L + grid_w / 2, grid_b + 38, x_label, "middle", 12, " class=\"x-label\"");
  s += Text(14, T + rows * ch / 2, y_label, "middle", 12,
            " class=\"y-label\" transform=\"rotate(-90 14 " + Num(T + rows * ch / 2) + ")\"");
  // The colour key: the scale's two ends (the colour is linear in the value between them).
  s += "<defs><linearGradient id=\"colour-key-gradient\"><stop offset=\"0\" stop-color=\"" + colour(lo) +
       "\"/><stop offset=\"1\" stop-color=\"" + colour(hi) + "\"/></linearGradient></defs>\n";
  s += "<g class=\"colour-key\" data-min=\"" + Data(lo) + "\" data-max=\"" + Data(hi) + "\">\n";
  s += Text(L - 4, key_y + 9, cell_text(lo), "end", 10, " class=\"key-min\"");
  s += "<rect x=\"" + Num(L) + "\" y=\"" + Num(key_y) + "\" width=\"" + Num(key_w) +
       "\" height=\"10\" fill=\"url(#colour-key-gradient)\" stroke=\"#999\"/>\n";
  s += Text(L + key_w + 4, key_y + 9, cell_text(hi), "start", 10, " class=\"key-max\"");
  return s + "</g>\n</svg>\n";
}

void WriteSvg(const std::string& path, const std::string& svg) { WriteTextFile(path, svg); }

}  // namespace chunkllm
