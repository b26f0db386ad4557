// The report's job charts and the experiments' pages (report_charts.h).
#include "mmtorture/campaign/report_charts.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "mmtorture/campaign/seed_metrics.h"
#include "mmtorture/campaign/svg_chart.h"
#include "mmtorture/campaign/timeline.h"

namespace mmt::campaign {

namespace {

using Json = nlohmann::json;

constexpr const char* kStyle = R"(
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:18px;margin:0 0 8px}
#banner{background:#f3f3f3;border:1px solid #ccc;padding:8px;font:12px/1.4 monospace;white-space:pre-wrap}
#banner.failing{background:#fde8e8;border-color:#d33}
#script-error,#blocked-request{background:#d33;color:#fff;padding:6px;font-weight:bold}
table{border-collapse:collapse;font:12px monospace;margin:6px 0 14px}
td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
code{background:#f6f6f6;padding:1px 3px}
pre.table{font:12px/1.3 monospace;background:#f6f6f6;padding:8px;overflow-x:auto}
svg text{font:11px sans-serif}
svg text.chart-title{font-weight:bold}
svg text.label,svg text.value{font-size:10px}
svg.chart{margin:4px 12px 12px 0;vertical-align:top}
rect.clean{fill:#6bbf6b}rect.fail{fill:#e05050}rect.crash{fill:#8b0000}rect.timeout{fill:#e0a030}
rect.nondeterministic{fill:#8060c0}rect.bar{fill:#6a9bd8}rect.busy{fill:#e0a030}rect.bad{fill:#e05050}
.legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;width:12px;height:10px;margin-right:4px}
)";

constexpr const char* kGuardScript = R"(
window.onerror = function (message) {
  var marker = document.createElement('div');
  marker.id = 'script-error';
  marker.textContent = 'script error: ' + message;
  (document.body || document.documentElement).appendChild(marker);
};
document.addEventListener('securitypolicyviolation', function (event) {
  var marker = document.createElement('div');
  marker.id = 'blocked-request';
  marker.textContent = 'blocked request: ' + event.blockedURI;
  (document.body || document.documentElement).appendChild(marker);
});
document.addEventListener('DOMContentLoaded', function () { document.body.setAttribute('data-script', 'ran'); });
)";

// One policy: the latency histogram with p50 and p99 marked, and its counts.
std::string cma_policy_charts(const Json& policy, size_t index) {
  const std::string name = policy.at("policy").get<std::string>();
  const Json& latency = policy.at("latency_ms");
  const uint64_t p50 = latency.at("p50_ms").get<uint64_t>(), p99 = latency.at("p99_ms").get<uint64_t>();
  BarChart histogram;
  histogram.id = fmt::format("cma-latency-{}", index);
  histogram.title = fmt::format("{}: cma_alloc latency (virtual ms), {} calls; p50 {} ms, p99 {} ms, max {} ms", name,
                                latency.at("calls").get<uint64_t>(), p50, p99, latency.at("max_ms").get<uint64_t>());
  for (const Json& bucket : latency.at("histogram")) {
    const uint64_t first = bucket.at(0).get<uint64_t>(), last = bucket.at(1).get<uint64_t>();
    histogram.bars.push_back({"", first == last ? fmt::format("{}", first) : fmt::format("{}-{}", first, last),
                              static_cast<double>(bucket.at(2).get<uint64_t>())});
  }
  const unsigned p50_bucket = latency_bucket(p50), p99_bucket = latency_bucket(p99);
  if (!histogram.bars.empty()) {
    if (p50_bucket == p99_bucket) {
      histogram.markers.push_back({p50_bucket, fmt::format("p50 = p99 = {} ms", p50)});
    } else {
      histogram.markers.push_back({p50_bucket, fmt::format("p50 {} ms", p50)});
      histogram.markers.push_back({p99_bucket, fmt::format("p99 {} ms", p99)});
    }
  }
  BarChart counts;
  counts.id = fmt::format("cma-counts-{}", index);
  counts.title = fmt::format("{}: over {} seeds", name, policy.at("seeds").get<uint64_t>());
  for (const auto& [key, label, css] :
       {std::tuple{"calls", "calls", "bar"}, std::tuple{"retries", "retries", "bar"},
        std::tuple{"busy", "-EBUSY", "busy"}, std::tuple{"interrupted", "-EINTR", "busy"},
        std::tuple{"enomem", "-ENOMEM", "busy"}, std::tuple{"failed", "failed", "bad"}})
    counts.bars.push_back({name, label, static_cast<double>(policy.at(key).get<uint64_t>()), css});
  return svg_bar_chart(histogram) + svg_bar_chart(counts);
}

std::string nommu_charts(const Json& nommu) {
  const uint64_t seeds = nommu.at("seeds").get<uint64_t>(), ooms = nommu.at("ooms").get<uint64_t>();
  BarChart rate;
  rate.id = "nommu-oom";
  rate.title = fmt::format("boots: {} of {} ran out of memory ({:.1f}%)", ooms, seeds,
                           100.0 * nommu.at("oom_rate").get<double>());
  rate.bars = {{"", "booted", static_cast<double>(seeds - ooms)}, {"", "OOM", static_cast<double>(ooms), "bad"}};
  BarChart largest;
  largest.id = "nommu-largest-free";
  largest.title = "largest free block at the end of the boot (or at the OOM): seeds per size";
  for (const Json& pair : nommu.at("largest_free_kib")) {
    const uint64_t kib = pair.at(0).get<uint64_t>();
    largest.bars.push_back({"",
                            kib >= 1024 && kib % 1024 == 0 ? fmt::format("{}M", kib / 1024) : fmt::format("{}K", kib),
                            static_cast<double>(pair.at(1).get<uint64_t>())});
  }
  return svg_bar_chart(rate) + svg_bar_chart(largest);
}

}  // namespace

std::string report_page(const std::string& title, const std::string& body) {
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  html += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; "
          "style-src 'unsafe-inline'\">\n";
  html += fmt::format("<title>{}</title>\n<script>{}</script>\n<style>{}</style></head>\n<body>\n", html_escape(title),
                      kGuardScript, kStyle);
  return html + body + "</body></html>\n";
}

std::string job_charts_html(const std::string& jobs_json) {
  if (jobs_json.empty()) return "";
  const Json jobs = Json::parse(jobs_json);
  std::string out;
  if (jobs.contains("cma")) {
    out += "<h2>cma job</h2>\n<div id=\"cma-charts\">\n";
    size_t index = 0;
    for (const Json& policy : jobs.at("cma").at("policies")) out += cma_policy_charts(policy, index++);
    out += "</div>\n";
  }
  if (jobs.contains("nommu"))
    out += "<h2>nommu job</h2>\n<div id=\"nommu-charts\">\n" + nommu_charts(jobs.at("nommu")) + "</div>\n";
  return out;
}

std::string cma_experiment_html(const cma::CmaExperimentResult& result, const std::string& command) {
  std::string body = fmt::format("<h1>mmtorture cma-experiment</h1>\n<p><code>{}</code></p>\n<pre class=\"table\">{}</pre>\n",
                                 html_escape(command), html_escape(result.table()));
  // One chart per column the seed-004 question turns on, a group per workload.
  struct Column {
    const char* id;
    const char* title;
    const char* unit;
    int decimals;
    double (*value)(const cma::CmaPolicyRow&);
    const char* css;
  };
  static constexpr Column kColumns[] = {
      {"cma-success", "calls that succeeded", "%", 1, [](const cma::CmaPolicyRow& r) { return 100.0 * r.success_rate; },
       "bar"},
      {"cma-p99", "p99 latency (virtual ms)", "", 0,
       [](const cma::CmaPolicyRow& r) { return static_cast<double>(r.latency.p99_ms); }, "bar"},
      {"cma-retries", "retries", "", 0, [](const cma::CmaPolicyRow& r) { return static_cast<double>(r.retries); },
       "bar"},
      {"cma-busy", "-EBUSY sweeps", "", 0, [](const cma::CmaPolicyRow& r) { return static_cast<double>(r.busy); },
       "busy"},
      {"cma-hangs", "hangs (runs)", "", 0, [](const cma::CmaPolicyRow& r) { return static_cast<double>(r.hangs); },
       "bad"},
  };
  std::string legend = "<p class=\"legend\">bars, left to right in each workload:";
  std::vector<std::string> policies;
  for (const cma::CmaPolicyRow& row : result.rows)
    if (std::find(policies.begin(), policies.end(), row.policy) == policies.end()) policies.push_back(row.policy);
  for (size_t i = 0; i < policies.size(); ++i) legend += fmt::format(" <b>P{}</b> {}", i + 1, html_escape(policies[i]));
  body += legend + "</p>\n";
  for (const Column& column : kColumns) {
    BarChart chart;
    chart.id = column.id;
    chart.title = column.title;
    chart.unit = column.unit;
    chart.decimals = column.decimals;
    // Workload-major, so each workload's policies stand together.
    std::vector<std::string> workloads;
    for (const cma::CmaPolicyRow& row : result.rows)
      if (std::find(workloads.begin(), workloads.end(), row.workload) == workloads.end())
        workloads.push_back(row.workload);
    for (const std::string& workload : workloads)
      for (size_t p = 0; p < policies.size(); ++p)
        for (const cma::CmaPolicyRow& row : result.rows)
          if (row.workload == workload && row.policy == policies[p])
            chart.bars.push_back({workload, fmt::format("P{}", p + 1), column.value(row), column.css});
    body += svg_bar_chart(chart);
  }
  return report_page("mmtorture cma-experiment", body);
}

std::string nommu_experiment_html(const nommu::NommuExperimentResult& result, const std::string& command) {
  std::string body =
      fmt::format("<h1>mmtorture nommu-experiment</h1>\n<p><code>{}</code></p>\n<pre class=\"table\">{}</pre>\n",
                  html_escape(command), html_escape(result.table()));
  body += "<p class=\"legend\">bars in each memory size: <b>A</b> the maple nodes preallocated after the "
          "alloc_pages_exact region, <b>B</b> before it; <b>h</b> alloc_pages_exact frees its tail to the head of the "
          "free list, <b>t</b> to its tail</p>\n";
  BarChart oom{"nommu-oom-rate", "boots that ran out of memory", "%", 1, {}, {}};
  BarChart largest{"nommu-largest-free", "largest free block, median (KiB)", "", 0, {}, {}};
  for (const nommu::NommuExperimentRow& row : result.rows) {
    const std::string group = fmt::format("{} MiB", row.memory_mib);
    const std::string label = fmt::format("{}{}", row.prealloc == nommu::PreallocOrder::After ? "A" : "B",
                                          row.exact_free_to_tail ? "t" : "h");
    oom.bars.push_back({group, label, 100.0 * row.oom_rate, "bad"});
    largest.bars.push_back({group, label, static_cast<double>(row.largest_free_kib_median)});
  }
  body += svg_bar_chart(oom) + svg_bar_chart(largest);
  return report_page("mmtorture nommu-experiment", body);
}

}  // namespace mmt::campaign
