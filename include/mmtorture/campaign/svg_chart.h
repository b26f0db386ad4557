// Bar charts as inline SVG for the campaign report and the experiments' pages: no
// script, no request, numbers readable from the DOM (each bar carries data-group,
// data-label and data-value, so a test checks what is drawn against summary.json).
#pragma once

#include <string>
#include <vector>

namespace mmt::campaign {

struct ChartBar {
  std::string group;  // bars of one group stand together, the group named under them
  std::string label;  // under the bar
  double value = 0;
  std::string css_class = "bar";  // rect.<class> in the page's style
};

// A vertical line over a bar with a caption (the latency histogram's p50 and p99).
struct ChartMarker {
  size_t bar = 0;
  std::string caption;
};

struct BarChart {
  std::string id;     // the <svg>'s id
  std::string title;  // on top
  std::string unit;   // after each value ("%", " calls"); values print with `decimals`
  int decimals = 0;
  std::vector<ChartBar> bars;
  std::vector<ChartMarker> markers;
};

// The chart as one <svg> element (about 40 px per bar wide, 170 px high).
std::string svg_bar_chart(const BarChart& chart);

}  // namespace mmt::campaign
