// The campaign report (`mmtorture report OUT_DIR`, `run --report`): one self-contained
// report.html beside a campaign's summary.json and journal — the banner (config, seeds,
// outcomes, throughput), every signature with its first seed, count, shrunk size and
// the exact command that replays it, a link to each signature's timeline (replayed from
// its shrunk repro into timelines/<signature id>.html), plots of the journal (outcome
// of each seed, operations and virtual time per seed) as inline SVG, and the cma and
// nommu jobs' charts from summary.json's "jobs" (report_charts.h).
#pragma once

#include <cstddef>
#include <string>

namespace mmt::campaign {

struct ReportResult {
  std::string path;        // report.html
  size_t signatures = 0;   // signatures listed
  size_t timelines = 0;    // timelines written (one per signature whose job runs green threads)
  size_t seeds = 0;        // journal entries plotted
};

// Writes OUT_DIR/report.html and OUT_DIR/timelines/*.html from OUT_DIR/summary.json and
// the journal it names (or OUT_DIR/journal.jsonl). Throws ConfigError naming the file
// when OUT_DIR holds no campaign (no summary.json, or one that is not a summary).
// Files are written to a temporary name and renamed.
ReportResult write_report(const std::string& out_dir);

}  // namespace mmt::campaign
