// Standalone SVG plots for reports and model cards (no external tools): line plots, scatter
// plots and heat-maps with axes, ticks, legends and escaped text.
#pragma once

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
  int width = 640, height = 400;
  std::vector<PlotSeries> series;
  std::string ToSvg() const;  // NaN/inf points are skipped and break a line
};

struct HeatMap {
  std::string title, x_label, y_label;
  std::vector<std::string> row_labels, col_labels;
  std::vector<std::vector<double>> values;  // [row][col]; NaN = missing (grey)
  double min = 0.0, max = 1.0;               // colour scale: red (min) -> green (max)
  double cell_scale = 100.0;                 // cell text = value * cell_scale, rounded
  std::string cell_suffix = "%";
  int cell_width = 48, cell_height = 28;
  std::string ToSvg() const;
};

// "Nice" tick values covering [lo, hi] (1-2-5 steps; powers of ten on a log axis).
std::vector<double> NiceTicks(double lo, double hi, bool log_scale, int target = 6);

// Writes svg to path atomically.
void WriteSvg(const std::string& path, const std::string& svg);

}  // namespace chunkllm
