// Inline SVG bar charts (svg_chart.h).
#include "mmtorture/campaign/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>

#include "mmtorture/campaign/timeline.h"

namespace mmt::campaign {

namespace {

constexpr double kLeft = 10, kBarWidth = 46, kBarGap = 6, kGroupGap = 18, kTop = 34, kPlot = 90;

std::string number(double value, int decimals) { return fmt::format("{:.{}f}", value, decimals); }

}  // namespace

std::string svg_bar_chart(const BarChart& chart) {
  double largest = 0;
  for (const ChartBar& bar : chart.bars) largest = std::max(largest, bar.value);
  const double top = largest > 0 ? largest : 1;  // all zero: flat bars
  // x of each bar: groups separated by a wider gap.
  std::vector<double> x(chart.bars.size());
  double at = kLeft;
  for (size_t i = 0; i < chart.bars.size(); ++i) {
    if (i > 0) at += chart.bars[i].group == chart.bars[i - 1].group ? kBarGap : kGroupGap;
    x[i] = at;
    at += kBarWidth;
  }
  const double width = std::max(at + kLeft, 40.0 + 6.5 * static_cast<double>(chart.title.size()));
  const double height = kTop + kPlot + 46;
  std::string out = fmt::format(
      "<svg id=\"{}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\">"
      "<text x=\"{}\" y=\"14\" class=\"chart-title\">{}</text>\n",
      html_escape(chart.id), width, height, kLeft, html_escape(chart.title));
  const double base = kTop + kPlot;
  for (size_t i = 0; i < chart.bars.size(); ++i) {
    const ChartBar& bar = chart.bars[i];
    const double h = bar.value * kPlot / top;
    const std::string value = number(bar.value, chart.decimals) + chart.unit;
    out += fmt::format(
        "<rect class=\"{}\" data-group=\"{}\" data-label=\"{}\" data-value=\"{}\" x=\"{:.1f}\" y=\"{:.1f}\" "
        "width=\"{:.0f}\" height=\"{:.1f}\"><title>{}{}: {}</title></rect>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" class=\"value\">{}</text>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" class=\"label\">{}</text>\n",
        html_escape(bar.css_class), html_escape(bar.group), html_escape(bar.label), number(bar.value, chart.decimals),
        x[i], base - h, kBarWidth, h, bar.group.empty() ? "" : html_escape(bar.group) + " ",
        html_escape(bar.label), html_escape(value), x[i] + kBarWidth / 2, base - h - 3, html_escape(value),
        x[i] + kBarWidth / 2, base + 13, html_escape(bar.label));
  }
  // Group names under their bars.
  for (size_t i = 0; i < chart.bars.size();) {
    size_t j = i;
    while (j < chart.bars.size() && chart.bars[j].group == chart.bars[i].group) ++j;
    if (!chart.bars[i].group.empty())
      out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" class=\"group\">{}</text>\n",
                         (x[i] + x[j - 1] + kBarWidth) / 2, base + 30, html_escape(chart.bars[i].group));
    i = j;
  }
  for (const ChartMarker& marker : chart.markers) {
    if (marker.bar >= chart.bars.size()) continue;
    const double mx = x[marker.bar] + kBarWidth / 2;
    out += fmt::format(
        "<line class=\"marker\" data-caption=\"{}\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" "
        "stroke=\"#c00\" stroke-dasharray=\"4 3\"/><text x=\"{:.1f}\" y=\"28\" text-anchor=\"middle\" "
        "class=\"marker-caption\" fill=\"#c00\">{}</text>\n",
        html_escape(marker.caption), mx, 32.0, mx, base, mx, html_escape(marker.caption));
  }
  return out + "</svg>\n";
}

}  // namespace mmt::campaign
