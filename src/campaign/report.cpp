// The campaign report (report.h): summary.json and the journal as one HTML page, each
// signature's shrunk repro replayed into a timeline page (timeline.h).
#include "mmtorture/campaign/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <vector>
#include <nlohmann/json.hpp>

#include "mmtorture/campaign/campaign.h"
#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/report_charts.h"
#include "mmtorture/campaign/repro.h"
#include "mmtorture/campaign/isolated.h"
#include "mmtorture/campaign/seed_run.h"
#include "mmtorture/campaign/shared_event_log.h"
#include "mmtorture/campaign/timeline.h"
#include "mmtorture/sched/event_log.h"

namespace mmt::campaign {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;


struct Signature {
  std::string id, signature, check, first_repro, shrunk_path, timeline, no_timeline;
  uint64_t count = 0, first_seed = 0, shrunk_choices = 0, shrunk_ops = 0;
};

Json read_summary(const std::string& out_dir) {
  const std::string path = (fs::path(out_dir) / "summary.json").string();
  std::error_code error;
  if (!fs::is_regular_file(path, error))
    throw ConfigError(out_dir, 0, "", "no summary.json: not the output directory of a finished `mmtorture run` or `merge`");
  Json summary;
  try {
    summary = Json::parse(read_file(path));
  } catch (const Json::exception& e) {
    throw ConfigError(path, 0, "", fmt::format("not JSON: {}", e.what()));
  }
  if (!summary.is_object() || summary.value("format", "") != "mmtorture-summary/1")
    throw ConfigError(path, 0, "format", "not an mmtorture-summary/1 file");
  return summary;
}

// The history a replay of `repro` leaves for its timeline. A failure that ran to its end
// replays in process. A crash or timeout would take the report down with it: it replays
// in a worker process, as `replay` does, whose event log is mirrored into shared memory,
// so the timeline shows each thread's events up to the crash (the newest
// SharedEventLog::kRecords of them).
struct ReplayedHistory {
  std::vector<sched::EventLog::HistoryEvent> history;
  std::unique_ptr<sched::EventLog> log;  // names the tracks
  std::vector<Choice> recorded;
  std::optional<Failure> failure;
};

ReplayedHistory replay_for_timeline(const Repro& repro) {
  ReplayedHistory out;
  SeedHooks hooks;
  if (repro.failure.check == "crash" || repro.failure.check == "timeout") {
    sched::EventLog log(1);
    SharedEventLog shared(1);
    log.set_mirror(&shared);
    hooks.event_log = &log;
    IsolatedReplay run =
        replay_isolated(repro.config, repro.choices, repro.config.run.seed_timeout_s, ReplayAlignment::Exact, hooks);
    out.history = shared.history();
    out.log = shared.rebuild();
    out.recorded = std::move(run.recorded);
    out.failure = std::move(run.report.result.failure);
    return out;
  }
  out.log = std::make_unique<sched::EventLog>(1);
  out.log->keep_history();
  hooks.event_log = out.log.get();
  ReplayChoices choices(repro.choices);
  SeedResult result = run_seed(repro.config, choices, hooks);
  out.history = out.log->history();
  out.recorded = choices.recorded();
  out.failure = std::move(result.failure);
  return out;
}

// Replays a signature's repro and writes its timeline page.
void write_signature_timeline(const std::string& out_dir, Signature& s) {
  const std::string repro_path = s.shrunk_path.empty() ? s.first_repro : s.shrunk_path;
  std::error_code error;
  if (repro_path.empty() || !fs::is_regular_file(repro_path, error)) {
    s.no_timeline = "its repro file is missing";
    return;
  }
  const Repro repro = load_repro(repro_path);
  if (!jobs::job_of(repro.config).records_events()) {  // nothing to replay for
    s.no_timeline = fmt::format("the {} job runs no green threads", repro.config.workload.job);
    return;
  }
  ReplayedHistory replayed = replay_for_timeline(repro);
  if (replayed.history.empty()) {
    s.no_timeline = fmt::format("the {} job runs no green threads", repro.config.workload.job);
    return;
  }
  const Timeline timeline = build_timeline(std::move(replayed.history), replayed.log->threads(),
                                           std::move(replayed.recorded), std::move(replayed.failure));
  const std::string relative = fmt::format("timelines/{}.html", s.id);
  write_file_atomic((fs::path(out_dir) / relative).string(),
                    timeline_html(timeline, TimelineSource{repro_path, repro.seed, config_hash(repro.config)}));
  s.timeline = relative;
}

std::vector<Signature> signatures_of(const Json& summary) {
  std::vector<Signature> out;
  const Json list = summary.value("signatures", Json::array());
  for (const Json& j : list) {
    Signature s;
    s.id = j.value("signature_id", "");
    s.signature = j.value("signature", "");
    s.check = j.value("check", "");
    s.count = j.value("count", uint64_t{0});
    s.first_seed = j.value("first_seed", uint64_t{0});
    s.first_repro = j.value("first_repro", "");
    if (j.contains("shrunk") && j.at("shrunk").is_object()) {
      s.shrunk_path = j.at("shrunk").value("path", "");
      s.shrunk_choices = j.at("shrunk").value("choices", uint64_t{0});
      s.shrunk_ops = j.at("shrunk").value("ops", uint64_t{0});
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string banner(const Json& summary, size_t signatures) {
  const Json counts = summary.value("counts", Json::object());
  std::string text = fmt::format("{}, {} ({})\nconfig {} (hash {}), job {}\nseeds {}..{}: {} journaled{}, {} failing, {} signatures",
                                 summary.value("tool_version", "mmtorture"), summary.value("kind", "run"),
                                 summary.value("state", "?"), summary.value("config", "?"),
                                 summary.value("config_hash", "?"), summary.value("job", "?"),
                                 summary.value("seeds", Json::object()).value("first", uint64_t{0}),
                                 summary.value("seeds", Json::object()).value("last", uint64_t{0}),
                                 counts.value("seeds", uint64_t{0}),
                                 summary.value("complete", false) ? " (complete)" : " (INCOMPLETE)",
                                 counts.value("failing", uint64_t{0}), signatures);
  const Json outcomes = counts.value("outcomes", Json::object());
  for (const auto& [outcome, n] : outcomes.items())
    text += fmt::format("\n  {}: {} seeds", outcome, n.get<uint64_t>());
  text += fmt::format("\n{} ops, {} virtual ms", summary.value("ops", uint64_t{0}),
                      summary.value("virtual_ms", uint64_t{0}));
  if (summary.contains("throughput")) {
    const Json& t = summary.at("throughput");
    text += fmt::format("\nthroughput: {:.0f} checked ops/s, {:.1f} seeds/s ({:.2f} s wall, {} jobs)",
                        t.value("ops_per_s", 0.0), t.value("seeds_per_s", 0.0), t.value("wall_s", 0.0),
                        t.value("jobs", 0u));
  }
  const Json missing = summary.value("missing", Json::array());
  for (const Json& line : missing) text += "\nmissing: " + line.get<std::string>();
  return text;
}

std::string signature_table(const std::vector<Signature>& signatures) {
  if (signatures.empty()) return "<p id=\"no-signatures\">No failures: every seed ran clean.</p>\n";
  std::string out =
      "<table id=\"signatures\"><tr><th>signature</th><th>check | site | message</th><th>seeds</th><th>first "
      "seed</th><th>shrunk to</th><th>replay it</th><th>timeline</th></tr>\n";
  for (const Signature& s : signatures) {
    const std::string repro = s.shrunk_path.empty() ? s.first_repro : s.shrunk_path;
    const std::string shrunk =
        s.shrunk_path.empty() ? "not shrunk" : fmt::format("{} choices, {} ops", s.shrunk_choices, s.shrunk_ops);
    const std::string timeline =
        s.timeline.empty() ? html_escape("none: " + s.no_timeline)
                           : fmt::format("<a class=\"timeline\" href=\"{}\">timeline</a>", html_escape(s.timeline));
    out += fmt::format(
        "<tr class=\"signature\" data-signature=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td><code class=\"replay\">mmtorture replay {}</code></td><td>{}</td></tr>\n",
        html_escape(s.id), html_escape(s.id), html_escape(s.signature), s.count, s.first_seed, html_escape(shrunk),
        html_escape(repro), timeline);
  }
  return out + "</table>\n";
}

// One cell per seed, coloured by outcome.
std::string outcome_plot(const std::vector<JournalEntry>& entries) {
  const double cell = std::clamp(1000.0 / static_cast<double>(std::max<size_t>(entries.size(), 1)), 2.0, 16.0);
  const int width = 60 + static_cast<int>(cell * static_cast<double>(entries.size())) + 10;
  std::string out = fmt::format("<svg id=\"outcomes\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"46\">"
                                "<text x=\"0\" y=\"18\">seeds</text>\n",
                                width);
  for (size_t i = 0; i < entries.size(); ++i)
    out += fmt::format("<rect class=\"{}\" x=\"{:.1f}\" y=\"4\" width=\"{:.1f}\" height=\"20\"><title>seed {}: {}{}"
                       "</title></rect>\n",
                       html_escape(entries[i].outcome), 60 + cell * static_cast<double>(i), std::max(cell - 0.5, 1.0),
                       entries[i].seed, html_escape(entries[i].outcome),
                       entries[i].signature_id.empty() ? "" : " " + html_escape(entries[i].signature_id));
  if (!entries.empty())
    out += fmt::format("<text x=\"60\" y=\"40\">{}</text><text x=\"{:.1f}\" y=\"40\" text-anchor=\"end\">{}</text>",
                       entries.front().seed, 60 + cell * static_cast<double>(entries.size()), entries.back().seed);
  return out + "</svg>\n";
}

// A bar per seed of `value`.
template <typename Value>
std::string bar_plot(const char* id, const char* what, const std::vector<JournalEntry>& entries, Value value) {
  uint64_t largest = 0;
  for (const JournalEntry& e : entries) largest = std::max<uint64_t>(largest, value(e));
  const uint64_t top = std::max<uint64_t>(largest, 1);  // the scale (all zero: flat bars)
  const double cell = std::clamp(1000.0 / static_cast<double>(std::max<size_t>(entries.size(), 1)), 2.0, 16.0);
  const int width = 60 + static_cast<int>(cell * static_cast<double>(entries.size())) + 10;
  constexpr int kHeight = 90;
  std::string out = fmt::format("<svg id=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\">"
                                "<text x=\"0\" y=\"12\">{}</text><text x=\"0\" y=\"26\">max {}</text>\n",
                                id, width, kHeight + 6, what, largest);
  for (size_t i = 0; i < entries.size(); ++i) {
    const double h = static_cast<double>(value(entries[i])) * (kHeight - 10) / static_cast<double>(top);
    out += fmt::format("<rect class=\"bar\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\"><title>seed {}: "
                       "{} {}</title></rect>\n",
                       60 + cell * static_cast<double>(i), kHeight - h, std::max(cell - 0.5, 1.0), h, entries[i].seed,
                       value(entries[i]), what);
  }
  return out + "</svg>\n";
}


}  // namespace

ReportResult write_report(const std::string& out_dir) {
  const Json summary = read_summary(out_dir);
  std::string journal = summary.value("journal", "");
  std::error_code error;
  if (journal.empty() || !fs::is_regular_file(journal, error)) journal = (fs::path(out_dir) / "journal.jsonl").string();
  std::vector<JournalEntry> entries;
  if (fs::is_regular_file(journal, error)) entries = read_journal(journal);
  std::sort(entries.begin(), entries.end(),
            [](const JournalEntry& a, const JournalEntry& b) { return a.seed < b.seed; });

  ReportResult result;
  std::vector<Signature> signatures = signatures_of(summary);
  for (Signature& s : signatures) {
    write_signature_timeline(out_dir, s);
    if (!s.timeline.empty()) ++result.timelines;
  }
  const bool failing = summary.value("counts", Json::object()).value("failing", uint64_t{0}) > 0;
  std::string html = fmt::format("<h1>mmtorture campaign report: {}</h1>\n", html_escape(out_dir));
  html += fmt::format("<div id=\"banner\" class=\"{}\">{}</div>\n", failing ? "failing" : "clean",
                      html_escape(banner(summary, signatures.size())));
  html += "<h2>Signatures</h2>\n" + signature_table(signatures);
  html += "<h2>Seeds</h2>\n<div class=\"legend\"><span><i style=\"background:#6bbf6b\"></i>clean</span>"
          "<span><i style=\"background:#e05050\"></i>fail</span><span><i style=\"background:#8b0000\"></i>crash</span>"
          "<span><i style=\"background:#e0a030\"></i>timeout</span>"
          "<span><i style=\"background:#8060c0\"></i>nondeterministic</span></div>\n";
  html += outcome_plot(entries);
  html += bar_plot("ops", "operations", entries, [](const JournalEntry& e) { return e.ops; });
  html += bar_plot("virtual-ms", "virtual ms", entries, [](const JournalEntry& e) { return e.virtual_ms; });
  if (summary.contains("jobs")) {
    try {
      html += job_charts_html(summary.at("jobs").dump());
    } catch (const Json::exception& e) {
      throw ConfigError((fs::path(out_dir) / "summary.json").string(), 0, "jobs",
                        fmt::format("malformed: {}", e.what()));
    }
  }
  result.path = (fs::path(out_dir) / "report.html").string();
  write_file_atomic(result.path, report_page(fmt::format("mmtorture report: {}", out_dir), html));
  result.signatures = signatures.size();
  result.seeds = entries.size();
  return result;
}

}  // namespace mmt::campaign
