// Coverage counted against a job's registry (coverage.h), its summary line, its report
// and its JSON form.
#include "mmtorture/campaign/coverage.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "coverage_json.h"
#include "mmtorture/campaign/config.h"
#include "mmtorture/jobs/job.h"

namespace mmt::campaign {

bool coverage_registry(const Config& config, CoverageRegistry* registry) {
  return jobs::job_of(config).coverage_registry(config, registry);
}

namespace {

double percent(size_t part, size_t whole) {
  return whole == 0 ? 100.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

uint64_t times_seen(const Coverage& coverage, const std::string& op, const std::string& outcome) {
  const auto by_op = coverage.outcomes.find(op);
  if (by_op == coverage.outcomes.end()) return 0;
  const auto it = by_op->second.find(outcome);
  return it == by_op->second.end() ? 0 : it->second;
}

}  // namespace

double CoverageScore::sites_percent() const { return percent(sites_failed, sites_total); }
double CoverageScore::errors_percent() const { return percent(errors_taken, errors_total); }

CoverageScore score_coverage(const CoverageRegistry& registry, const Coverage& coverage) {
  CoverageScore score;
  std::set<std::string> site_keys;
  for (const auto& site : registry.sites) {
    site_keys.insert(site.key);
    if (!site.enabled) continue;
    ++score.sites_total;
    const auto it = coverage.sites.find(site.key);
    if (it == coverage.sites.end()) continue;
    if (it->second.requests > 0) ++score.sites_reached;
    if (it->second.injected > 0) ++score.sites_failed;
  }
  for (const auto& [key, count] : coverage.sites)
    if (!site_keys.count(key) && count.requests > 0) score.unregistered.push_back("site " + key);
  std::set<std::pair<std::string, std::string>> outcome_keys;
  for (const auto& entry : registry.outcomes) {
    outcome_keys.insert({entry.op, entry.outcome});
    if (!entry.error || !entry.enabled) continue;
    ++score.errors_total;
    if (times_seen(coverage, entry.op, entry.outcome) > 0) ++score.errors_taken;
  }
  for (const auto& [op, by_outcome] : coverage.outcomes)
    for (const auto& [outcome, times] : by_outcome)
      if (times > 0 && !outcome_keys.count({op, outcome}))
        score.unregistered.push_back(fmt::format("outcome {} -> {}", op, outcome));
  return score;
}

std::string coverage_line(const Config& config, const Coverage& coverage, bool name_job) {
  const std::string opening = name_job ? fmt::format("coverage, {} job:", config.workload.job) : "coverage:";
  CoverageRegistry registry;
  if (!coverage_registry(config, &registry))
    return name_job ? fmt::format("{} none recorded (the job has no coverage registry)", opening)
                    : fmt::format("coverage: not recorded for the {} job", config.workload.job);
  const CoverageScore score = score_coverage(registry, coverage);
  std::string line =
      fmt::format("{} injection sites {}/{} failed ({:.0f}%, {}/{} reached), error returns {}/{} taken ({:.0f}%)",
                  opening, score.sites_failed, score.sites_total, score.sites_percent(), score.sites_reached,
                  score.sites_total, score.errors_taken, score.errors_total, score.errors_percent());
  if (!score.unregistered.empty()) line += fmt::format("; {} not in the registry", score.unregistered.size());
  return line;
}

std::string coverage_report(const Config& config, const Coverage& coverage) {
  CoverageRegistry registry;
  if (!coverage_registry(config, &registry))
    return fmt::format("coverage: not recorded for the {} job\n", config.workload.job);
  const CoverageScore score = score_coverage(registry, coverage);
  std::string out = fmt::format("coverage of the {} job ({} ops in the journal's seeds):\n", config.workload.job,
                                [&] {
                                  uint64_t ops = 0;
                                  for (const auto& [op, by_outcome] : coverage.outcomes)
                                    for (const auto& [outcome, times] : by_outcome) ops += times;
                                  return ops;
                                }());
  out += "\ninjection sites (the fault plan's requests and the failures it injected):\n\n";
  out += "| site / class | requests | failed | |\n|---|---|---|---|\n";
  for (const auto& site : registry.sites) {
    const auto it = coverage.sites.find(site.key);
    const Coverage::SiteCount count = it == coverage.sites.end() ? Coverage::SiteCount{} : it->second;
    const char* note = !site.enabled ? "off in this config" : count.injected == 0 ? "NEVER FAILED" : "";
    out += fmt::format("| {} | {} | {} | {} |\n", site.key, count.requests, count.injected, note);
  }
  out += "\noperations x outcomes (errors marked *):\n\n";
  // One column per outcome any operation of the registry has, in registry order.
  // Answers first, then errors, then the workload's bookkeeping.
  std::vector<std::string> columns;
  std::vector<bool> column_error;
  for (int group = 0; group < 3; ++group)
    for (const auto& entry : registry.outcomes) {
      if ((entry.bookkeeping ? 2 : entry.error ? 1 : 0) != group) continue;
      if (std::find(columns.begin(), columns.end(), entry.outcome) != columns.end()) continue;
      columns.push_back(entry.outcome);
      column_error.push_back(entry.error);
    }
  out += "| operation |";
  for (size_t c = 0; c < columns.size(); ++c) out += fmt::format(" {}{} |", columns[c], column_error[c] ? "*" : "");
  out += "\n|---|";
  for (size_t c = 0; c < columns.size(); ++c) out += "---|";
  out += "\n";
  std::vector<std::string> ops;
  for (const auto& entry : registry.outcomes)
    if (std::find(ops.begin(), ops.end(), entry.op) == ops.end()) ops.push_back(entry.op);
  for (const std::string& op : ops) {
    out += fmt::format("| {} |", op);
    for (const std::string& column : columns) {
      const auto entry = std::find_if(registry.outcomes.begin(), registry.outcomes.end(),
                                      [&](const auto& e) { return e.op == op && e.outcome == column; });
      if (entry == registry.outcomes.end()) out += " |";
      else if (!entry->enabled) out += " off |";
      else out += fmt::format(" {} |", times_seen(coverage, op, column));
    }
    out += "\n";
  }
  std::string never;
  for (const auto& entry : registry.outcomes)
    if (entry.error && entry.enabled && times_seen(coverage, entry.op, entry.outcome) == 0)
      never += fmt::format("{}{} -> {}", never.empty() ? "" : ", ", entry.op, entry.outcome);
  out += fmt::format("\nerror returns never taken: {}\n", never.empty() ? "none" : never);
  std::string off;
  for (const auto& site : registry.sites)
    if (!site.enabled) off += fmt::format("{}site {}", off.empty() ? "" : ", ", site.key);
  for (const auto& entry : registry.outcomes)
    if (entry.error && !entry.enabled)
      off += fmt::format("{}{} -> {}", off.empty() ? "" : ", ", entry.op, entry.outcome);
  out += fmt::format("off in this config (not counted): {}\n", off.empty() ? "nothing" : off);
  if (!score.unregistered.empty()) {
    out += "seen but not in the registry:";
    for (const std::string& what : score.unregistered) out += " " + what + ";";
    out += "\n";
  }
  out += coverage_line(config, coverage, false) + "\n";
  return out;
}

nlohmann::ordered_json coverage_to_json(const Coverage& coverage) {
  nlohmann::ordered_json sites = nlohmann::ordered_json::object();
  for (const auto& [key, count] : coverage.sites) sites[key] = {count.requests, count.injected};
  nlohmann::ordered_json outcomes = nlohmann::ordered_json::object();
  for (const auto& [op, by_outcome] : coverage.outcomes)
    for (const auto& [outcome, times] : by_outcome) outcomes[op][outcome] = times;
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["sites"] = sites;
  j["outcomes"] = outcomes;
  return j;
}

Coverage coverage_from_json(const nlohmann::json& j) {
  Coverage coverage;
  for (const auto& [key, pair] : j.at("sites").items()) {
    Coverage::SiteCount& count = coverage.sites[key];
    count.requests = pair.at(0).get<uint64_t>();
    count.injected = pair.at(1).get<uint64_t>();
  }
  for (const auto& [op, by_outcome] : j.at("outcomes").items())
    for (const auto& [outcome, times] : by_outcome.items()) coverage.outcomes[op][outcome] = times.get<uint64_t>();
  return coverage;
}

std::string coverage_json_text(const Coverage& coverage) { return coverage_to_json(coverage).dump(); }

Coverage coverage_from_json_text(std::string_view text) { return coverage_from_json(nlohmann::json::parse(text)); }

}  // namespace mmt::campaign
