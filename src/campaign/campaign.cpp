// The campaign driver (campaign.h): worker processes, journal, resume, progress,
// failures and their repros, automatic shrinking of each new signature, summary.
#include "mmtorture/campaign/campaign.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "mmtorture/campaign/interrupt.h"
#include "mmtorture/campaign/isolated.h"
#include "mmtorture/campaign/journal_lock.h"
#include "mmtorture/campaign/repro.h"
#include "mmtorture/campaign/seed_run.h"
#include "mmtorture/campaign/shrink.h"
#include "mmtorture/campaign/summary.h"
#include "coverage_json.h"

namespace mmt::campaign {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;  // progress and ops/s only, never fed to a run

std::string journal_line(const JournalEntry& e) {
  nlohmann::ordered_json j;
  j["seed"] = e.seed;
  j["outcome"] = e.outcome;
  j["ops"] = e.ops;
  j["virtual_ms"] = e.virtual_ms;
  j["trace_hash"] = fmt::format("{:016x}", e.trace_hash);
  j["signature"] = e.signature;
  j["signature_id"] = e.signature_id;
  j["check"] = e.check;
  j["repro"] = e.repro;
  j["config_hash"] = e.config_hash;
  j["stats"] = e.stats;
  if (e.pct_guarantee > 0) j["pct_guarantee"] = e.pct_guarantee;
  if (!e.metrics.empty()) j["metrics"] = nlohmann::ordered_json::parse(seed_metrics_json(e.metrics));
  if (e.bounded) j["bounded"] = nlohmann::ordered_json::parse(bounded_slice_json(*e.bounded));
  if (!e.coverage.empty()) j["coverage"] = coverage_to_json(e.coverage);
  if (!e.job.empty()) j["job"] = e.job;
  return j.dump();
}

std::vector<JournalEntry> read_journal(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path, 0, "", "cannot open the journal");
  std::vector<std::string> lines;
  std::string line;
  bool torn = false;
  while (std::getline(in, line)) lines.push_back(line);
  // A line without its newline was cut by a kill: it does not count.
  in.clear();
  in.seekg(0, std::ios::end);
  if (in.tellg() > 0) {
    in.seekg(-1, std::ios::end);
    torn = in.get() != '\n';
  }
  if (torn && !lines.empty()) lines.pop_back();
  std::vector<JournalEntry> entries;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    try {
      const auto j = nlohmann::json::parse(lines[i]);
      JournalEntry e;
      e.seed = j.at("seed").get<uint64_t>();
      e.outcome = j.at("outcome").get<std::string>();
      e.ops = j.at("ops").get<uint64_t>();
      e.virtual_ms = j.at("virtual_ms").get<uint64_t>();
      e.trace_hash = std::stoull(j.at("trace_hash").get<std::string>(), nullptr, 16);
      e.signature = j.at("signature").get<std::string>();
      e.signature_id = j.at("signature_id").get<std::string>();
      e.check = j.at("check").get<std::string>();
      e.repro = j.at("repro").get<std::string>();
      e.config_hash = j.at("config_hash").get<std::string>();
      e.stats = j.value("stats", std::string{});
      if (j.contains("metrics")) e.metrics = seed_metrics_from_json(j.at("metrics").dump());
      e.pct_guarantee = j.value("pct_guarantee", 0.0);
      if (j.contains("bounded")) e.bounded = bounded_slice_from_json(j["bounded"].dump());
      if (j.contains("coverage")) e.coverage = coverage_from_json(j["coverage"]);
      e.job = j.value("job", std::string{});
      entries.push_back(std::move(e));
    } catch (const std::exception&) {
      throw ConfigError(path, i + 1, "journal", "not a journal line (seed, outcome, ops, virtual_ms, trace_hash, ...)");
    }
  }
  return entries;
}

std::string journal_path(const CampaignOptions& options) {
  return options.out_dir + "/" + shard_journal_name(Shard{options.shard_index, options.shard_count});
}

bool shrink_signature_repro(const std::string& signature_id, const std::string& first_repro, bool print_progress) {
  std::error_code error;
  if (first_repro.empty() || !fs::exists(first_repro, error)) return false;
  const fs::path dir = fs::path(first_repro).parent_path();
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().string().ends_with(".min.repro.json")) {
      spdlog::debug("shrink: {}: already shrunk ({}), not again", signature_id, entry.path().string());
      return false;
    }
  try {
    const Repro repro = load_repro(first_repro);
    ShrinkOptions shrink;
    shrink.max_attempts = repro.config.run.shrink_attempts;
    spdlog::info("shrink: {} from {} ({} choices, at most {} replays{})", signature_id, first_repro,
                 repro.choices.size(), shrink.max_attempts, shrink_in_workers(repro) ? ", each in a worker" : "");
    shrink.cancelled = [] { return interrupt_signal() != 0; };
    if (print_progress) {
      fmt::print("shrinking {} ({}, {} choices, at most {} replays)\n", signature_id, first_repro, repro.choices.size(),
                 shrink.max_attempts);
      std::fflush(stdout);
      shrink.progress = [](const std::string& line) {
        fmt::print("  {}\n", line);
        std::fflush(stdout);
      };
    }
    const uint64_t timeout = repro.config.run.seed_timeout_s;
    // Check failures replay in this process (fast); crashes, timeouts and the kernel's
    // code each in a worker.
    const bool isolated = shrink_in_workers(repro);
    const ShrinkResult result = shrink_repro(repro, shrink, [&](const Config& candidate, const std::vector<Choice>& c) {
      return isolated ? run_candidate_isolated(candidate, c, timeout) : run_candidate_in_process(candidate, c);
    });
    if (interrupt_signal()) {
      fmt::print("not shrunk {}: interrupted\n", signature_id);
      return false;
    }
    if (!result.reproduced) {
      fmt::print("not shrunk {}: {} does not reproduce on its own: {}\n", signature_id, first_repro,
                 result.original_outcome);
      return false;
    }
    std::string path = first_repro;
    path.replace(path.size() - std::string(".repro.json").size(), std::string::npos, ".min.repro.json");
    write_file_atomic(path, repro_to_json(result.repro));
    fmt::print("shrunk {}: {} -> {} choices, {} -> {} ops, {} -> {} threads ({} attempts): {}\n", signature_id,
               result.before.choices, result.after.choices, result.before.operations, result.after.operations,
               result.before.threads, result.after.threads, result.attempts, path);
    std::fflush(stdout);
    return true;
  } catch (const std::exception& e) {
    fmt::print("shrink of {} failed: {}\n", first_repro, e.what());
    return false;
  }
}

namespace {

// The worker body for one seed: run it (twice with --check-determinism), and write
// its repro when it fails.
// Bounded exploration: the seed explores its slice; its first failing schedule is the
// repro. A schedule that is not a function of its choices stops the slice.
std::string bounded_seed_body(const CampaignOptions& options, uint64_t seed) {
  WorkerReport report;
  std::vector<Choice> failing;
  try {
    report.result = explore_seed(options.config, seed, &failing);
    report.outcome = report.result.failure ? Outcome::Fail : Outcome::Clean;
  } catch (const std::logic_error& error) {
    report.result.failure = Failure{"determinism", "explore", error.what()};
    report.outcome = Outcome::Nondeterministic;
    return encode_report(report);
  }
  if (report.result.failure) {
    const Failure& failure = *report.result.failure;
    const Repro repro = make_repro(options.config, seed, std::move(failing), failure, report.result.trace_hash,
                                   failure.op_index);
    report.repro_path =
        fmt::format("{}/failures/{}/{}.repro.json", options.out_dir, repro.failure.signature_id(), seed);
    write_file_atomic(report.repro_path, repro_to_json(repro));
  }
  return encode_report(report);
}

std::string seed_body(const CampaignOptions& options, uint64_t seed) {
  if (bounded_exploration(options.config)) return bounded_seed_body(options, seed);
  // A mixed campaign's seed runs its job's config, and its repro holds that config.
  const Config config = seed_config(options.config, seed);
  SeededChoices seeded(seed);
  WorkerReport report;
  report.result = run_seed(config, seeded);
  report.outcome = report.result.failure ? Outcome::Fail : Outcome::Clean;
  if (options.check_determinism) {
    SeededChoices again(seed);
    const SeedResult second = run_seed(config, again);
    if (second.trace_hash != report.result.trace_hash) {
      const auto& a = seeded.recorded();
      const auto& b = again.recorded();
      const size_t i = first_difference(a, b).value_or(a.size());
      Failure f;
      f.check = "determinism";
      f.site = "trace_hash";
      f.message = fmt::format("trace hash {:016x} then {:016x}; first diverging choice #{}: {} then {}",
                              report.result.trace_hash, second.trace_hash, i,
                              i < a.size() ? choice_label(a[i]) : "(end)", i < b.size() ? choice_label(b[i]) : "(end)");
      report.result.failure = f;
      report.outcome = Outcome::Nondeterministic;
    }
  }
  if (report.result.failure) {
    const Failure& failure = *report.result.failure;
    const Repro repro =
        make_repro(config, seed, seeded.recorded(), failure, report.result.trace_hash, failure.op_index);
    report.repro_path =
        fmt::format("{}/failures/{}/{}.repro.json", options.out_dir, repro.failure.signature_id(), seed);
    write_file_atomic(report.repro_path, repro_to_json(repro));
  }
  return encode_report(report);
}

// A worker that died (crash) or was killed for its time (timeout): the seed is re-run
// in a fresh worker that captures every choice, and the re-run's outcome is what the
// journal records. A death counts only when the re-run dies too: a worker killed from
// outside (the host's OOM killer, an operator's kill -9) or a timeout that a less
// loaded machine does not repeat is no finding, and a note says what happened instead.
// The repro is written from the re-run's choices, whatever it found.
void rerun_dead_worker(const CampaignOptions& options, uint64_t seed, WorkerReport& report) {
  const Failure death = *report.result.failure;
  spdlog::warn("seed {}: worker ended: {} at {}: {}; re-running it in a fresh worker", seed, death.check, death.site,
               death.message);
  const Config config = seed_config(options.config, seed);
  IsolatedReplay rerun = seed_isolated(config, seed, options.config.run.seed_timeout_s);
  WorkerReport again = std::move(rerun.report);
  const bool died_again = again.outcome == Outcome::Crash || again.outcome == Outcome::Timeout;
  if (!died_again || again.result.failure->signature() != death.signature()) {
    const std::string what =
        !again.result.failure ? "ran clean"
        : died_again
            ? fmt::format("died differently ({} at {})", again.result.failure->check, again.result.failure->site)
            : fmt::format("failed {} at {}", again.result.failure->check, again.result.failure->site);
    spdlog::info("seed {}: the re-run {}", seed, what);
    fmt::print(
        "note: seed {}: its worker ended ({} at {}) but a re-run in a fresh worker {}{}; journaled as {}\n", seed,
        death.check, death.site, what,
        died_again ? "" : ": the worker was killed from outside (the host's OOM killer, a kill -9), not by the seed",
        outcome_name(again.outcome));
    std::fflush(stdout);
  }
  if (again.result.failure) {
    const Failure& failure = *again.result.failure;
    const Repro repro =
        make_repro(config, seed, std::move(rerun.recorded), failure, again.result.trace_hash, failure.op_index);
    again.repro_path = fmt::format("{}/failures/{}/{}.repro.json", options.out_dir, repro.failure.signature_id(), seed);
    write_file_atomic(again.repro_path, repro_to_json(repro));
  }
  report = std::move(again);
}

void shrink_new_signatures(const CampaignOptions& options, const SeedTotals& totals) {
  for (const auto& [id, sig] : totals.by_signature) {
    if (interrupt_signal()) return;
    shrink_signature_repro(id, sig.first_repro, !options.quiet_progress);
  }
}

void print_interrupted(int signal, uint64_t seeds_done, size_t seeds_total) {
  fmt::print("interrupted ({}): {} of {} seeds done and journaled, resume with --resume\n",
             signal == SIGTERM ? "SIGTERM" : "SIGINT", seeds_done, seeds_total);
  std::fflush(stdout);
}

// The journal, open for appending for as long as a campaign runs: closed however the
// campaign ends (an exception from a write, a worker or a shrink included).
class JournalAppender {
 public:
  explicit JournalAppender(std::string path)
      : path_(std::move(path)), fd_(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC)) {
    if (fd_ < 0) throw IoError(fmt::format("{}: cannot open for appending: {}", path_, std::strerror(errno)));
  }
  ~JournalAppender() { ::close(fd_); }
  JournalAppender(const JournalAppender&) = delete;
  JournalAppender& operator=(const JournalAppender&) = delete;

  // One whole line per write(2) on an O_APPEND descriptor: a kill between seeds never
  // leaves half a line behind another seed's.
  void append(const JournalEntry& entry) {
    const std::string line = journal_line(entry) + "\n";
    if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      throw IoError(fmt::format("{}: write failed: {}", path_, std::strerror(errno)));
  }

 private:
  std::string path_;
  int fd_;
};

// This shard's seeds of the range, in order.
std::vector<uint64_t> shard_seeds(const CampaignOptions& options) {
  std::vector<uint64_t> seeds;
  for (uint64_t s = options.seeds.first;; ++s) {
    if ((s - options.seeds.first) % options.shard_count == options.shard_index - 1) seeds.push_back(s);
    if (s == options.seeds.last) break;
  }
  return seeds;
}

// Bounded exploration: a seed is a slice of the enumeration, and determinism is checked
// on every schedule already.
void check_bounded_options(const CampaignOptions& options) {
  if (!bounded_exploration(options.config)) return;
  const uint64_t slices = options.config.schedule.bounded_slices;
  if (options.seeds.first == 0 || options.seeds.last > slices)
    throw ConfigError("--seeds", 0, "",
                      fmt::format("{}..{} are not all slices: bounded exploration has schedule.bounded_slices = {} "
                                  "(seeds 1..{})",
                                  options.seeds.first, options.seeds.last, slices, slices));
  if (options.check_determinism)
    throw ConfigError("--check-determinism", 0, "",
                      "bounded exploration checks it on every schedule (a re-run prefix that differs stops the seed)");
}

// What --resume continues, checked before anything is printed: a journal of another
// config, or of seeds this run does not run, would be counted as this run's, and the
// summary and the completeness check would then lie about what ran.
std::vector<JournalEntry> resumable_entries(const CampaignOptions& options, const std::string& journal,
                                            const std::string& hash, const std::vector<uint64_t>& seeds) {
  std::vector<JournalEntry> resumed = read_journal(journal);
  for (const auto& e : resumed) {
    if (e.config_hash != hash)
      throw ConfigError(journal, 0, "config_hash",
                        fmt::format("journal was written with config hash {}, this config is {}", e.config_hash, hash));
    if (!std::binary_search(seeds.begin(), seeds.end(), e.seed))
      throw ConfigError(
          journal, 0, "seed",
          fmt::format("journal holds seed {}, which --seeds {}..{} (shard {}/{}) does not run: resume "
                      "with the seeds and shard the campaign was started with",
                      e.seed, options.seeds.first, options.seeds.last, options.shard_index, options.shard_count));
  }
  return resumed;
}

// The banner's and the summary's job: workload.job, or a mix's entries.
std::string campaign_jobs_text(const Config& config) {
  if (config.workload.job_mix.empty()) return config.workload.job;
  std::string text = "mix";
  for (const std::string& entry : config.workload.job_mix) text += (text == "mix" ? " " : ",") + entry;
  return text;
}

void print_campaign_banner(const CampaignOptions& options, const std::string& hash, size_t seeds,
                           const std::string& journal) {
  fmt::print(
      "mmtorture run: seeds {}..{} ({} in shard {}/{}), config {}, config hash {}, job {}, "
      "{} ops per seed, {} jobs, journal {}\n",
      options.seeds.first, options.seeds.last, seeds, options.shard_index, options.shard_count, options.config_name,
      hash, campaign_jobs_text(options.config), options.config.run.ops_per_seed, options.jobs, journal);
  fmt::print("{}", config_banner(options.config));
  std::fflush(stdout);
}

// A finished seed's journal line.
JournalEntry journal_entry(const Config& config, uint64_t seed, WorkerReport& report, const std::string& hash) {
  JournalEntry e;
  e.seed = seed;
  if (!config.workload.job_mix.empty()) e.job = job_of_seed(config, seed);
  e.outcome = outcome_name(report.outcome);
  e.ops = report.result.ops;
  e.virtual_ms = report.result.virtual_ms;
  e.trace_hash = report.result.trace_hash;
  e.repro = report.repro_path;
  e.config_hash = hash;
  e.stats = report.result.stats;
  e.pct_guarantee = report.result.pct_guarantee;
  e.metrics = report.result.metrics;
  e.bounded = report.result.bounded;
  e.coverage = std::move(report.result.coverage);
  if (const auto& f = report.result.failure) {
    e.signature = f->signature();
    e.signature_id = f->signature_id();
    e.check = f->check;
  }
  return e;
}

// The seeds still to run, up to options.jobs at once, each in its worker process; each
// finished seed is journaled and added to the totals; progress on stderr (a terminal)
// or stdout. Stops early on SIGINT/SIGTERM (under the caller's InterruptGuard) or when
// --budget-s runs out.
class CampaignLoop {
 public:
  CampaignLoop(const CampaignOptions& options, const std::string& hash, const std::string& journal,
               std::vector<uint64_t> todo, size_t seeds_total, size_t seeds_done, SeedTotals& totals)
      : options_(options),
        hash_(hash),
        journal_(journal),
        todo_(std::move(todo)),
        seeds_total_(seeds_total),
        seeds_done_(seeds_done),
        totals_(totals),
        tty_(::isatty(STDERR_FILENO) && !options.quiet_progress),
        started_(Clock::now()),
        last_progress_(started_) {}

  void run() {
    while ((next_ < todo_.size() && !(out_of_budget_ = budget_spent())) || !running_.empty()) {
      if (interrupt_signal()) break;
      start_workers();
      if (!poll_workers()) break;  // a worker killed by the same Ctrl-C is not a crash
      print_progress();
    }
    if (tty_) fmt::print(stderr, "\r\033[K");
    wall_ = std::chrono::duration<double>(Clock::now() - started_).count();
    if (interrupt_signal()) {
      for (Running& r : running_) r.worker->kill_now();
      running_.clear();  // the workers are reaped; their seeds were not journaled
    }
  }

  uint64_t finished() const { return finished_; }
  uint64_t ops() const { return ops_this_run_; }
  double wall_s() const { return wall_; }
  // --budget-s stopped the run with seeds left to start.
  bool stopped_by_budget() const { return out_of_budget_ && next_ < todo_.size(); }

 private:
  struct Running {
    uint64_t seed;
    std::unique_ptr<Worker> worker;
    Clock::time_point started;
  };

  bool budget_spent() const {
    return options_.budget_s > 0 && std::chrono::duration<double>(Clock::now() - started_).count() >= options_.budget_s;
  }

  void start_workers() {
    while (!out_of_budget_ && running_.size() < options_.jobs && next_ < todo_.size()) {
      const uint64_t seed = todo_[next_++];
      spdlog::debug("seed {}: worker started ({} running)", seed, running_.size() + 1);
      const CampaignOptions& options = options_;
      running_.push_back(
          Running{seed, Worker::start([&options, seed](CaptureBuffer*) { return seed_body(options, seed); }, nullptr),
                  Clock::now()});
    }
  }

  // Waits up to 250 ms for output, then finishes every worker that ended or ran out of
  // time. False when a signal interrupted the wait.
  bool poll_workers() {
    std::vector<pollfd> fds;
    for (auto& r : running_) fds.push_back(pollfd{r.worker->fd(), POLLIN, 0});
    ::poll(fds.data(), fds.size(), 250);
    if (interrupt_signal()) return false;
    for (size_t i = running_.size(); i-- > 0;) {
      Running& r = running_[i];
      bool ended = false, timed_out = false;
      if (fds[i].revents) ended = !r.worker->read_some();
      if (!ended && Clock::now() - r.started > std::chrono::seconds(options_.config.run.seed_timeout_s)) {
        spdlog::warn("seed {}: killed after {} s of wall time (run.seed_timeout_s)", r.seed,
                     options_.config.run.seed_timeout_s);
        r.worker->kill_now();
        ended = timed_out = true;
      }
      if (ended) {
        finish(r, timed_out);
        running_.erase(running_.begin() + static_cast<ptrdiff_t>(i));
      }
    }
    return true;
  }

  void finish(Running& r, bool timed_out) {
    WorkerReport report = finish_worker(*r.worker, timed_out, options_.config.run.seed_timeout_s);
    r.worker.reset();
    if (report.outcome == Outcome::Crash || report.outcome == Outcome::Timeout)
      rerun_dead_worker(options_, r.seed, report);
    const JournalEntry e = journal_entry(options_.config, r.seed, report, hash_);
    spdlog::debug("seed {}: {}, {} ops, trace {:016x}", r.seed, e.outcome, e.ops, report.result.trace_hash);
    if (const auto& f = report.result.failure) {
      if (tty_) fmt::print(stderr, "\r\033[K");
      fmt::print("{}\n  seed {}, op {}, outcome {}{}{}\n  repro: {}\n", f->headline(), r.seed, f->op_index, e.outcome,
                 report.result.swarm.empty() ? "" : ", swarm off: ", report.result.swarm, e.repro);
      std::fflush(stdout);
    }
    journal_.append(e);
    totals_.add(e);
    ops_this_run_ += e.ops;
    ++finished_;
  }

  void print_progress() {
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - started_).count();
    const double rate = elapsed > 0 ? static_cast<double>(ops_this_run_) / elapsed : 0;
    const double eta =
        finished_ ? elapsed / static_cast<double>(finished_) * static_cast<double>(todo_.size() - finished_) : 0;
    if (tty_ && now - last_progress_ > std::chrono::milliseconds(250)) {
      fmt::print(stderr, "\r\033[K[{}/{} seeds] {} failing, {:.0f} ops/s, ETA {:.0f} s", finished_ + seeds_done_,
                 seeds_total_, totals_.failing, rate, eta);
      last_progress_ = now;
    } else if (!tty_ && !options_.quiet_progress && now - last_progress_ > std::chrono::seconds(10)) {
      fmt::print("progress: {}/{} seeds, {} failing, {:.0f} ops/s, ETA {:.0f} s\n", finished_ + seeds_done_,
                 seeds_total_, totals_.failing, rate, eta);
      std::fflush(stdout);
      last_progress_ = now;
    }
  }

  const CampaignOptions& options_;
  const std::string& hash_;
  JournalAppender journal_;
  const std::vector<uint64_t> todo_;
  const size_t seeds_total_, seeds_done_;
  SeedTotals& totals_;
  const bool tty_;
  const Clock::time_point started_;
  Clock::time_point last_progress_;
  uint64_t ops_this_run_ = 0, finished_ = 0;
  size_t next_ = 0;
  bool out_of_budget_ = false;
  double wall_ = 0;
  std::vector<Running> running_;
};

}  // namespace

int run_campaign(const CampaignOptions& options) {
  const std::string hash = config_hash(options.config);
  const std::vector<uint64_t> seeds = shard_seeds(options);
  check_bounded_options(options);
  const std::string journal = journal_path(options);
  // One campaign per journal, and a used journal only with --resume or --force: checked
  // before anything is printed or written.
  fs::create_directories(options.out_dir);
  const JournalLock lock(journal);
  check_journal_unused(journal, options.resume, options.force);
  const bool resuming = options.resume && fs::exists(journal);
  const std::vector<JournalEntry> resumed =
      resuming ? resumable_entries(options, journal, hash, seeds) : std::vector<JournalEntry>{};
  print_campaign_banner(options, hash, seeds.size(), journal);

  SeedTotals totals;
  std::set<uint64_t> done;
  if (resuming) {
    for (const auto& e : resumed) {
      if (done.insert(e.seed).second) totals.add(e);
    }
    // Rewrite without a torn last line so appends start on a fresh line.
    std::string text;
    for (const auto& e : resumed) text += journal_line(e) + "\n";
    write_file_atomic(journal, text);
    fmt::print("resuming: {} seeds already in {}\n", done.size(), journal);
    spdlog::info("resume: {} journal lines for {} seeds kept in {}; {} of the shard's {} seeds left to run",
                 resumed.size(), done.size(), journal, seeds.size() - done.size(), seeds.size());
  } else {
    write_file_atomic(journal, "");
  }
  SummaryInfo summary;
  summary.config_name = options.config_name;
  summary.config_hash = hash;
  summary.job = campaign_jobs_text(options.config);
  summary.journal = journal;
  summary.seeds = options.seeds;
  summary.shard = Shard{options.shard_index, options.shard_count};
  summary.state = "running";
  summary.complete = done.size() == seeds.size();
  const std::string summary_file = summary_path(options.out_dir, summary.shard);
  write_file_atomic(summary_file, summary_json(summary, totals));

  std::vector<uint64_t> todo;
  for (uint64_t s : seeds)
    if (!done.count(s)) todo.push_back(s);
  // Ctrl-C and SIGTERM stop the loop and the shrinking after it, not the process.
  InterruptGuard interrupt_guard;
  spdlog::info("campaign: {} seeds to run in up to {} workers, config {} ({}), journal {}", todo.size(), options.jobs,
               options.config_name, options.config.workload.job, journal);
  CampaignLoop loop(options, hash, journal, std::move(todo), seeds.size(), done.size(), totals);
  loop.run();
  if (loop.stopped_by_budget())
    fmt::print("budget: {:.0f} s ran out after {} of {} seeds; the rest start with --resume\n", options.budget_s,
               done.size() + loop.finished(), seeds.size());
  if (options.config.run.shrink) shrink_new_signatures(options, totals);
  const int signal = interrupt_signal();
  const double wall = loop.wall_s();
  summary.state = signal ? "interrupted" : "done";
  summary.complete = done.size() + loop.finished() == seeds.size();
  summary.throughput = Throughput{wall, wall, loop.ops(), loop.finished(), 1, options.jobs};
  write_file_atomic(summary_file, summary_json(summary, totals));
  if (signal) print_interrupted(signal, done.size() + loop.finished(), seeds.size());
  print_summary(totals, wall, loop.ops(), options.jobs);
  if (options.config.workload.job_mix.empty()) {
    if (options.coverage) fmt::print("\n{}", coverage_report(options.config, totals.coverage));
    else fmt::print("  {}\n", coverage_line(options.config, totals.coverage));
  } else {
    // A mix: each job's coverage against its own registry, in the mix's order.
    for (const std::string& job : mix_jobs(options.config)) {
      const Config config = job_config(options.config, job);
      const auto it = totals.coverage_by_job.find(job);
      const Coverage coverage = it == totals.coverage_by_job.end() ? Coverage{} : it->second;
      if (options.coverage) fmt::print("\n{}", coverage_report(config, coverage));
      else fmt::print("  {}\n", coverage_line(config, coverage, true));
    }
  }
  if (signal) return interrupted_exit_code(signal);
  return totals.failing ? 1 : 0;
}

int interrupted_exit_code(int signal) { return 128 + signal; }

}  // namespace mmt::campaign
