// Standalone SVG plots for reports and model cards (no external tools): line plots, scatter
// plots and heat-maps with axes, ticks, legends and escaped text.
//
// The SVG names its parts so a test can check a plot without measuring it: the plot area is
// <rect class="plot-area"> with its axis ranges in data-x-min / data-x-max / data-y-min /
// data-y-max; tick labels are class "x-tick" / "y-tick" with data-value; every marker is a
// class "point" path with data-series and data-marker, placed by transform="translate(x,y)";
// every line a class "line" polyline with data-series; the legend is <g class="legend"> with
// one <text class="legend-entry" data-series> per series. Heat-maps: class "cell" rects with
// data-row / data-col / data-value and a <g class="colour-key" data-min data-max>.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace chunkllm {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
  std::vector<std::string> labels;  // optional, one per point (scatter)
};

struct LinePlot {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  bool lines = true, markers = false;  // scatter: lines = false, markers = true
  // The quantity's natural range (0..1 for a fraction or a score): the axis covers it, and
  // grows past it only to hold a point outside. Unset: the data's own range.
  std::optional<double> x_min, x_max, y_min, y_max;
  bool x_percent = false, y_percent = false;  // tick labels read 100 * v with a "%"
  int width = 640, height = 400;  // the SVG widens (and grows taller) to fit a long legend or title
  std::vector<PlotSeries> series;
  std::string ToSvg() const;  // NaN/inf points are skipped and break a line
};

struct HeatMap {
  std::string title, x_label, y_label;
  std::vector<std::string> row_labels, col_labels;
  std::vector<std::vector<double>> values;  // [row][col]; NaN = missing (grey)
  double min = 0.0, max = 1.0;               // colour scale: red (min) -> green (max), grown to every value
  double cell_scale = 100.0;                 // cell text = value * cell_scale, rounded
  std::string cell_suffix = "%";
  int cell_width = 48, cell_height = 28;     // cells widen to fit their text and column labels
  std::string ToSvg() const;
};

// "Nice" tick values covering [lo, hi] (1-2-5 steps; powers of ten on a log axis). A single
// value (lo == hi) gets ticks on both sides of it.
std::vector<double> NiceTicks(double lo, double hi, bool log_scale, int target = 6);

// The plotter's estimate of a text's width: 0.6 of the font size per character (UTF-8 code
// points), a little wider than sans-serif's average, so what is laid out by it fits.
double TextWidth(const std::string& text, double font_size);

// Writes svg to path atomically.
void WriteSvg(const std::string& path, const std::string& svg);

}  // namespace chunkllm
