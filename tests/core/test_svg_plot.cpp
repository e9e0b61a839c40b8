// The SVG plotter checked from its own output, as a reader would look at it: every series named
// whole in a legend that fits, no two series drawn alike, axes over the quantity's natural
// range that hold every point and end on labelled ticks, heat-maps whose labels fit, and
// files rsvg-convert renders. The plots copy the reports' shapes (recall.svg's layers and
// references, accuracy-vs-attended.svg's equal scores, loss.svg's log axis, the heat-maps).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/svg_plot.h"

namespace chunkllm {
namespace {

// ---- reading the SVG back ---------------------------------------------------------------

std::string Unescape(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    bool done = false;
    for (auto [ent, c] : {std::pair{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}}) {
      if (s.compare(i, std::string(ent).size(), ent) == 0) o += c, i += std::string(ent).size() - 1, done = true;
    }
    if (!done) o += s[i];
  }
  return o;
}

struct Element {
  std::string tag, text;  // text: a <text>'s content
  std::map<std::string, std::string> attr;
  bool Has(const std::string& a) const { return attr.count(a) > 0; }
  std::string Get(const std::string& a) const { return Has(a) ? attr.at(a) : ""; }
  double Num(const std::string& a) const { return std::stod(attr.at(a)); }
};

// The SVG's opening tags in order, with attributes (and a <text>'s content). The plotter writes
// plain XML (no comments, CDATA or single quotes), which is all this reads.
struct Svg {
  explicit Svg(const std::string& s) {
    for (size_t p = s.find('<'); p != std::string::npos; p = s.find('<', p + 1)) {
      if (!std::isalpha(static_cast<unsigned char>(s[p + 1]))) continue;  // closing tags
      Element e;
      size_t q = p + 1;
      while (std::isalnum(static_cast<unsigned char>(s[q])) || s[q] == '-') e.tag += s[q++];
      for (;;) {
        while (std::isspace(static_cast<unsigned char>(s[q]))) ++q;
        if (s[q] == '>' || s[q] == '/') break;
        const size_t eq = s.find("=\"", q), close = s.find('"', eq + 2);
        e.attr[s.substr(q, eq - q)] = Unescape(s.substr(eq + 2, close - eq - 2));
        q = close + 1;
      }
      p = s.find('>', q);
      if (e.tag == "text") e.text = Unescape(s.substr(p + 1, s.find("</text>", p) - p - 1));
      elements.push_back(e);
    }
  }
  std::vector<Element> Class(const std::string& c) const {
    std::vector<Element> out;
    for (const auto& e : elements)
      if (e.Get("class") == c) out.push_back(e);
    return out;
  }
  const Element& Root() const { return elements.at(0); }
  std::vector<Element> elements;
};

// The text-width estimate the plotter promises to lay out by: 0.6 em a character.
double Width(const Element& text) {
  size_t n = 0;
  for (unsigned char c : text.text) n += (c & 0xC0) != 0x80;
  return 0.6 * text.Num("font-size") * double(n);
}

// A text's left and right ends by its anchor.
std::pair<double, double> Extent(const Element& text) {
  const double x = text.Num("x"), w = Width(text);
  const std::string a = text.Get("text-anchor");
  return a == "start" ? std::pair{x, x + w} : a == "end" ? std::pair{x - w, x} : std::pair{x - w / 2, x + w / 2};
}

struct Drawn {
  int series;
  double x, y;
};

// Every point as drawn: markers by their translate(), lines by their vertices.
std::vector<Drawn> DrawnPoints(const Svg& svg) {
  std::vector<Drawn> out;
  for (const auto& m : svg.Class("point")) {
    Drawn d{std::stoi(m.Get("data-series")), 0, 0};
    EXPECT_EQ(std::sscanf(m.Get("transform").c_str(), "translate(%lf,%lf)", &d.x, &d.y), 2) << m.Get("transform");
    out.push_back(d);
  }
  for (const auto& l : svg.Class("line")) {
    std::istringstream in(l.Get("points"));
    for (std::string xy; in >> xy;) {
      Drawn d{std::stoi(l.Get("data-series")), 0, 0};
      EXPECT_EQ(std::sscanf(xy.c_str(), "%lf,%lf", &d.x, &d.y), 2) << xy;
      out.push_back(d);
    }
  }
  return out;
}

bool Near(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)}); }

// ---- what every line or scatter plot must satisfy ------------------------------------------

void ExpectTitleFits(const Svg& svg) {
  const auto title = svg.Class("title");
  ASSERT_EQ(title.size(), 1u);
  const auto [left, right] = Extent(title[0]);
  EXPECT_GE(left, 0) << "title '" << title[0].text << "' starts left of the SVG";
  EXPECT_LE(right, svg.Root().Num("width")) << "title '" << title[0].text << "' runs past the SVG's right edge";
}

// One axis ("x" or "y"): its range holds every value and is the natural range asked for when
// the values lie inside it; both ends carry a tick; every tick label reads its value.
void ExpectAxis(const Svg& svg, const Element& area, const std::string& axis, std::vector<double> values,
                std::optional<double> natural_min, std::optional<double> natural_max, bool log, bool percent) {
  SCOPED_TRACE(axis + " axis");
  const double lo = area.Num("data-" + axis + "-min"), hi = area.Num("data-" + axis + "-max");
  std::erase_if(values, [&](double v) { return !std::isfinite(v) || (log && v <= 0); });
  ASSERT_FALSE(values.empty());
  const double vmin = *std::min_element(values.begin(), values.end()), vmax = *std::max_element(values.begin(), values.end());
  EXPECT_LE(lo, vmin) << "a point lies below the axis";
  EXPECT_GE(hi, vmax) << "a point lies above the axis";
  EXPECT_LT(lo, hi);
  if (natural_min && *natural_min <= vmin) {
    EXPECT_DOUBLE_EQ(lo, *natural_min) << "the axis does not start at the natural range";
  }
  if (natural_max && *natural_max >= vmax) {
    EXPECT_DOUBLE_EQ(hi, *natural_max) << "the axis does not end at the natural range";
  }
  const auto ticks = svg.Class(axis + "-tick");
  ASSERT_GE(ticks.size(), 2u);
  EXPECT_TRUE(Near(ticks.front().Num("data-value"), lo)) << "no tick at the axis's start " << lo;
  EXPECT_TRUE(Near(ticks.back().Num("data-value"), hi)) << "no tick at the axis's end " << hi;
  for (const auto& t : ticks) {
    const double v = t.Num("data-value"), shown = std::stod(t.text);
    EXPECT_EQ(!t.text.empty() && t.text.back() == '%', percent) << "tick label '" << t.text << "'";
    EXPECT_NEAR(shown, percent ? 100 * v : v, 1e-6 * std::max(1.0, std::fabs(shown))) << "tick label '" << t.text << "'";
  }
}

// The checks every LinePlot must pass, whatever it draws.
void ExpectReadable(const LinePlot& plot, const Svg& svg) {
  ExpectTitleFits(svg);
  const double width = svg.Root().Num("width");

  // The legend: every name whole, in order, inside the SVG.
  const auto entries = svg.Class("legend-entry");
  ASSERT_EQ(entries.size(), plot.series.size()) << "one legend entry per series";
  for (size_t k = 0; k < entries.size(); ++k) {
    EXPECT_EQ(entries[k].text, plot.series[k].name);
    EXPECT_LE(Extent(entries[k]).second, width) << "legend entry '" << entries[k].text << "' is cut at the SVG's right edge";
  }

  // Each series drawn in its legend's colour, marker and dash; no two legend styles alike.
  const auto items = svg.Class("legend-item");
  ASSERT_EQ(items.size(), plot.series.size());
  std::map<std::string, size_t> seen;
  for (size_t k = 0; k < items.size(); ++k) {
    const std::string style = items[k].Get("data-colour") + " " + items[k].Get("data-marker") + " " + items[k].Get("data-dash");
    auto [it, fresh] = seen.emplace(style, k);
    EXPECT_TRUE(fresh) << "series " << k << " (" << plot.series[k].name << ") and " << it->second << " ("
                       << plot.series[it->second].name << ") are both drawn as " << style;
  }
  for (const auto& m : svg.Class("point")) {
    const Element& item = items.at(std::stoul(m.Get("data-series")));
    EXPECT_EQ(m.Get("fill"), item.Get("data-colour"));
    EXPECT_EQ(m.Get("data-marker"), item.Get("data-marker"));
  }
  for (const auto& l : svg.Class("line")) {
    const Element& item = items.at(std::stoul(l.Get("data-series")));
    EXPECT_EQ(l.Get("stroke"), item.Get("data-colour"));
    EXPECT_EQ(l.Get("stroke-dasharray"), item.Get("data-dash"));
  }

  // The axes, and every point drawn inside the plot area.
  const auto areas = svg.Class("plot-area");
  ASSERT_EQ(areas.size(), 1u);
  const Element& area = areas[0];
  std::vector<double> xs, ys;
  size_t finite = 0;
  for (const auto& se : plot.series)
    for (size_t i = 0; i < se.x.size(); ++i) {
      xs.push_back(se.x[i]), ys.push_back(se.y[i]);
      finite += std::isfinite(se.x[i]) && std::isfinite(se.y[i]) && (!plot.log_y || se.y[i] > 0);
    }
  ExpectAxis(svg, area, "x", xs, plot.x_min, plot.x_max, plot.log_x, plot.x_percent);
  ExpectAxis(svg, area, "y", ys, plot.y_min, plot.y_max, plot.log_y, plot.y_percent);
  const double x0 = area.Num("x"), y0 = area.Num("y"), x1 = x0 + area.Num("width"), y1 = y0 + area.Num("height");
  const auto drawn = DrawnPoints(svg);
  EXPECT_EQ(drawn.size(), finite * ((plot.markers ? 1 : 0) + (plot.lines ? 1 : 0))) << "every point drawn";
  for (const Drawn& d : drawn) {
    EXPECT_TRUE(d.x >= x0 - 0.05 && d.x <= x1 + 0.05 && d.y >= y0 - 0.05 && d.y <= y1 + 0.05)
        << "series " << d.series << " drawn at (" << d.x << ", " << d.y << "), outside the plot area [" << x0 << ", "
        << x1 << "] x [" << y0 << ", " << y1 << "]";
  }
}

// ---- the plots (the reports' shapes) ---------------------------------------------------------

// recall.svg: held-out recall per layer with markers, the k-most-recent reference and boundary
// F1, on a 0-100% axis; twelve layers so the palette alone cannot tell them apart.
LinePlot RecallPlot() {
  LinePlot p;
  p.title = "Held-out top-8 recall per layer, and boundary F1";
  p.x_label = "step", p.y_label = "recall / F1 (%)";
  p.markers = true, p.y_min = 0.0, p.y_max = 1.0, p.y_percent = true;
  for (int l = 0; l < 12; ++l) {
    PlotSeries s{"layer " + std::to_string(l)};
    for (int step = 40; step <= 1200; step += 40) s.x.push_back(step), s.y.push_back(0.99 - 0.02 * l - 8.0 / step);
    p.series.push_back(s);
  }
  PlotSeries recent{"k most recent (mean of layers)"}, f1{"boundary F1"};
  for (int step = 40; step <= 1200; step += 40) {
    recent.x.push_back(step), recent.y.push_back(0.678);
    f1.x.push_back(step), f1.y.push_back(0.95 + 0.04 * step / 1200);
  }
  p.series.push_back(recent), p.series.push_back(f1);
  return p;
}

// accuracy-vs-attended.svg: one point per method, every score 1.0 (the failure the issue saw).
LinePlot AccuracyPlot() {
  LinePlot p;
  p.title = "Accuracy against attended KV fraction";
  p.x_label = "attended fraction of the KV cache", p.y_label = "score (%)";
  p.lines = false, p.markers = true;
  p.x_min = 0.0, p.x_max = 1.0, p.y_min = 0.0, p.y_max = 1.0, p.y_percent = true;
  for (int m = 0; m < 9; ++m) p.series.push_back({"method " + std::to_string(m), {0.1 + 0.1 * m}, {1.0}});
  p.series[0].name = "chunkllm (adapters, k most recent chunks kept)";
  return p;
}

// loss.svg: noisy losses over orders of magnitude on a log axis, lines only, twelve series.
LinePlot LossPlot() {
  LinePlot p;
  p.title = "Adapter training losses";
  p.x_label = "step", p.y_label = "loss";
  p.log_y = true;
  for (int k = 0; k < 12; ++k) {
    PlotSeries s{(k % 2 ? "BCE" : "KL") + std::string(k < 2 ? " (train)" : " (held-out, run " + std::to_string(k / 2) + ")")};
    for (int step = 1; step <= 300; ++step) {
      s.x.push_back(step), s.y.push_back((k % 2 ? 0.7 : 0.3) * std::pow(step, -0.4 - 0.1 * k) * (1 + 0.5 * ((step * 7919) % 13) / 13.0));
    }
    p.series.push_back(s);
  }
  p.series[3].y[5] = NAN;  // a gap, not drawn
  return p;
}

// The pretraining loss plot: cross-entropy between 2.67 and 4.32 on a linear, automatic axis.
LinePlot PretrainPlot() {
  LinePlot p;
  p.title = "Backbone pretraining loss";
  p.x_label = "step", p.y_label = "cross-entropy (nats/token)";
  p.series = {{"train (mean of 20 steps)", {20, 40, 80, 120, 146}, {2.67, 2.99, 2.98, 2.99, 3.18}},
              {"validation", {40, 80, 120, 146}, {4.32, 4.27, 4.24, 4.23}}};
  return p;
}

HeatMap AccuracyHeatMap() {
  HeatMap h;
  h.title = "Accuracy of chunkllm-adapters by context length and depth";
  h.x_label = "needle depth", h.y_label = "tokens";
  h.col_labels = {"0%", "25%", "50%", "75%", "100% (end)"};  // wider than a cell of 48
  h.row_labels = {"1024", "2048", "4096 (k most recent)", "8192"};
  h.values = {{1, 1, 1, 1, 1}, {1, 1, 1, 1, 0.875}, {1, 1, NAN, 1, 0.875}, {0, 0, 1, 1, 0.75}};
  return h;
}

// ---- the tests -------------------------------------------------------------------------------

TEST(SvgPlot, LineWithMarkersNamesEverySeriesApartInsideItsNaturalRange) {
  const LinePlot p = RecallPlot();
  ExpectReadable(p, Svg(p.ToSvg()));
}

TEST(SvgPlot, ScatterOfEqualScoresSitsInsideTheScoreRange) {
  const LinePlot p = AccuracyPlot();
  const Svg svg(p.ToSvg());
  ExpectReadable(p, svg);
  // A score of 1.0 on a 0-1 axis is its top: every point on the top edge, none on the bottom.
  const Element area = svg.Class("plot-area").at(0);
  for (const Drawn& d : DrawnPoints(svg)) EXPECT_NEAR(d.y, area.Num("y"), 0.05) << "series " << d.series;
}

TEST(SvgPlot, EqualValuesWithoutARangeSitInsideTheAxis) {
  LinePlot p = AccuracyPlot();
  p.x_min = p.x_max = p.y_min = p.y_max = std::nullopt;
  p.y_percent = false;
  const Svg svg(p.ToSvg());
  ExpectReadable(p, svg);
  const Element area = svg.Class("plot-area").at(0);
  EXPECT_LT(area.Num("data-y-min"), 1.0);
  EXPECT_GT(area.Num("data-y-max"), 1.0);
  const double top = area.Num("y"), bottom = top + area.Num("height");
  for (const Drawn& d : DrawnPoints(svg)) {
    EXPECT_TRUE(d.y > top + 1 && d.y < bottom - 1) << "series " << d.series << " at y " << d.y << ", on an edge of ["
                                                   << top << ", " << bottom << "]";
  }
}

TEST(SvgPlot, ANaturalRangeGrowsToHoldAPointOutsideIt) {
  LinePlot p = AccuracyPlot();
  p.series[4].y[0] = 1.25;  // a "score" above 100%: shown, not hidden above the plot
  const Svg svg(p.ToSvg());
  ExpectReadable(p, svg);
  EXPECT_GE(svg.Class("plot-area").at(0).Num("data-y-max"), 1.25);
}

TEST(SvgPlot, LogYLinesAreToldApart) {
  const LinePlot p = LossPlot();
  ExpectReadable(p, Svg(p.ToSvg()));
}

TEST(SvgPlot, LinearAutomaticAxisEndsOnTicks) {
  const LinePlot p = PretrainPlot();
  ExpectReadable(p, Svg(p.ToSvg()));
}

TEST(SvgPlot, NiceTicksCoverTheRangeAndPadASingleValue) {
  const std::vector<double> t = NiceTicks(2.67, 4.32, false);
  ASSERT_FALSE(t.empty());
  EXPECT_LE(t.front(), 2.67);
  EXPECT_GE(t.back(), 4.32);
  const std::vector<double> one = NiceTicks(1.0, 1.0, false);
  ASSERT_FALSE(one.empty());
  EXPECT_LT(one.front(), 1.0) << "a single value must not sit on the axis's first tick";
  EXPECT_GT(one.back(), 1.0);
}

TEST(SvgPlot, HeatMapFitsItsLabelsAndKeysItsScale) {
  HeatMap h = AccuracyHeatMap();
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass ? "a value above max" : "values inside [min, max]");
    if (pass) h.values[0][0] = 1.2;
    const Svg svg(h.ToSvg());
    ExpectTitleFits(svg);
    const double width = svg.Root().Num("width");
    const auto rows = svg.Class("row-label");
    ASSERT_EQ(rows.size(), h.row_labels.size());
    for (size_t r = 0; r < rows.size(); ++r) {
      EXPECT_EQ(rows[r].text, h.row_labels[r]);
      // Left of the rotated y label (about one font size wide at x = 14), not over it.
      EXPECT_GE(Extent(rows[r]).first, 20) << "row label '" << rows[r].text << "' runs into the y label or off the SVG";
    }
    // Every cell drawn with its value; its text and its column's label inside its width.
    const auto cells = svg.Class("cell"), texts = svg.Class("cell-text"), cols = svg.Class("col-label");
    ASSERT_EQ(cells.size(), 4u * 5);
    ASSERT_EQ(cols.size(), h.col_labels.size());
    size_t t = 0;
    for (const auto& c : cells) {
      const size_t r = std::stoul(c.Get("data-row")), k = std::stoul(c.Get("data-col"));
      const double v = h.values[r][k], x0 = c.Num("x"), x1 = x0 + c.Num("width");
      EXPECT_LE(x1, width);
      if (std::isnan(v)) continue;
      EXPECT_DOUBLE_EQ(c.Num("data-value"), v);
      ASSERT_LT(t, texts.size());
      EXPECT_EQ(texts[t].text, std::to_string(int(std::lround(100 * v))) + "%");
      EXPECT_GE(Extent(texts[t]).first, x0) << texts[t].text;
      EXPECT_LE(Extent(texts[t]).second, x1) << texts[t].text;
      ++t;
      if (r == 0) {
        EXPECT_EQ(cols[k].text, h.col_labels[k]);
        EXPECT_GE(Extent(cols[k]).first, x0) << cols[k].text;
        EXPECT_LE(Extent(cols[k]).second, x1) << cols[k].text;
      }
    }
    // The colour key: [min, max], grown to hold every value.
    const auto key = svg.Class("colour-key");
    ASSERT_EQ(key.size(), 1u);
    EXPECT_DOUBLE_EQ(key[0].Num("data-min"), 0.0);
    EXPECT_DOUBLE_EQ(key[0].Num("data-max"), pass ? 1.2 : 1.0);
  }
}

// ---- rendering -----------------------------------------------------------------------------

// rsvg-convert (Debian's librsvg2-bin; scripts/fetch-deps.sh installs it) renders every plot
// kind without a word on stderr, to a PNG the SVG's size.
TEST(SvgPlot, EveryKindRendersWithRsvgConvert) {
  if (std::system("command -v rsvg-convert >/dev/null 2>&1") != 0) GTEST_SKIP() << "rsvg-convert is not installed";
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("chunkllm-svgplot-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::vector<std::pair<std::string, std::string>> plots = {
      {"line", RecallPlot().ToSvg()}, {"scatter", AccuracyPlot().ToSvg()}, {"log-y", LossPlot().ToSvg()},
      {"linear", PretrainPlot().ToSvg()}, {"heatmap", AccuracyHeatMap().ToSvg()}};
  for (const auto& [name, text] : plots) {
    SCOPED_TRACE(name);
    const std::string svg = (dir / (name + ".svg")).string(), png = (dir / (name + ".png")).string(),
                      err = (dir / (name + ".err")).string();
    WriteSvg(svg, text);
    ASSERT_EQ(std::system(("rsvg-convert -o '" + png + "' '" + svg + "' 2>'" + err + "'").c_str()), 0);
    std::ifstream e(err);
    const std::string stderr_text((std::istreambuf_iterator<char>(e)), std::istreambuf_iterator<char>());
    EXPECT_EQ(stderr_text, "");
    std::ifstream in(png, std::ios::binary);
    unsigned char head[24] = {};
    in.read(reinterpret_cast<char*>(head), sizeof head);
    ASSERT_EQ(std::string(reinterpret_cast<char*>(head) + 1, 3), "PNG");
    auto be32 = [&](int i) { return (head[i] << 24) | (head[i + 1] << 16) | (head[i + 2] << 8) | head[i + 3]; };
    const Element& root = Svg(text).Root();
    EXPECT_EQ(be32(16), int(root.Num("width")));
    EXPECT_EQ(be32(20), int(root.Num("height")));
  }
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace chunkllm
