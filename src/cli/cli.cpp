// mmtorture's command line (CLI11). Every run prints its seed range and every knob
// first, so a log line alone is enough to reproduce; a failure prints the one failure
// grammar (FAIL line, context, SUMMARY line) and exits 1; misuse exits 2 with one line.
#include "mmtorture/cli/cli.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "mmtorture/campaign/maple_stress.h"
#include "mmtorture/core/choice.h"

namespace mmt::cli {

namespace {

struct SeedRange {
  uint64_t first = 1;
  uint64_t last = 1;
};

// Parses "A..B" or a single seed "A".
bool parse_seed_range(const std::string& text, SeedRange& range, std::string& error) {
  const auto dots = text.find("..");
  try {
    size_t used = 0;
    if (dots == std::string::npos) {
      range.first = range.last = std::stoull(text, &used);
      if (used != text.size()) throw std::invalid_argument(text);
    } else {
      range.first = std::stoull(text.substr(0, dots), &used);
      if (used != dots) throw std::invalid_argument(text);
      const std::string tail = text.substr(dots + 2);
      range.last = std::stoull(tail, &used);
      if (used != tail.size()) throw std::invalid_argument(text);
    }
  } catch (const std::exception&) {
    error = fmt::format("--seeds: '{}' is not a seed or a range A..B", text);
    return false;
  }
  if (range.first > range.last) {
    error = fmt::format("--seeds: '{}' is empty (A must not exceed B)", text);
    return false;
  }
  return true;
}

int run_maple(const SeedRange& seeds, const campaign::MapleStressOptions& options) {
  std::printf("mmtorture run: maple-tree stress, seeds %llu..%llu, ops %llu per seed, "
              "nowait_fail_probability %g, tree %s, rcu %s\n",
              static_cast<unsigned long long>(seeds.first), static_cast<unsigned long long>(seeds.last),
              static_cast<unsigned long long>(options.ops), options.nowait_fail_probability,
              options.alloc_range_tree ? "alloc-range" : "plain", options.rcu ? "on" : "off");
  std::fflush(stdout);
  const auto started = std::chrono::steady_clock::now();  // reporting only, never fed to the run
  uint64_t total_ops = 0, failures = 0, injected = 0;
  for (uint64_t seed = seeds.first;; ++seed) {
    SeededChoices choices(seed);
    const auto result = campaign::run_maple_stress(choices, options);
    total_ops += result.ops_done;
    injected += result.allocation_failures;
    if (result.failure) {
      ++failures;
      const Failure& f = *result.failure;
      std::printf("%s\n  seed %llu, op %llu, %zu choices drawn\n%s", f.headline().c_str(),
                  static_cast<unsigned long long>(seed), static_cast<unsigned long long>(f.op_index),
                  choices.draws(), f.dump.c_str());
    } else {
      std::printf("seed %llu: %llu ops, %llu NOWAIT failures injected, max %llu entries, height %llu, "
                  "trace %016llx\n",
                  static_cast<unsigned long long>(seed), static_cast<unsigned long long>(result.ops_done),
                  static_cast<unsigned long long>(result.allocation_failures),
                  static_cast<unsigned long long>(result.max_entries),
                  static_cast<unsigned long long>(result.max_height),
                  static_cast<unsigned long long>(result.trace_hash));
    }
    std::fflush(stdout);
    if (seed == seeds.last) break;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const uint64_t seed_count = seeds.last - seeds.first + 1;
  std::printf("SUMMARY: %llu seeds, %llu ops (checked after every op), %llu NOWAIT failures injected, "
              "%llu failing seeds, %.0f ops/s\n",
              static_cast<unsigned long long>(seed_count), static_cast<unsigned long long>(total_ops),
              static_cast<unsigned long long>(injected), static_cast<unsigned long long>(failures),
              seconds > 0 ? static_cast<double>(total_ops) / seconds : 0.0);
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mmtorture: deterministic memory-pressure fault-injection stress tester"};
  app.require_subcommand(1);

  auto* run = app.add_subcommand("run", "Run a seeded stress campaign (for now: the maple-tree stress)");
  std::string seeds_text = "1..200";
  campaign::MapleStressOptions options;
  bool plain_tree = false;
  run->add_option("--seeds", seeds_text, "Seed or range A..B (inclusive)")->capture_default_str();
  run->add_option("--ops", options.ops, "Operations per seed")->capture_default_str()->check(CLI::Range(1ull, 1ull << 40));
  run->add_option("--nowait-fail", options.nowait_fail_probability,
                  "Probability that a GFP_NOWAIT node allocation fails")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  run->add_flag("--plain-tree", plain_tree, "Use a tree without MT_FLAGS_ALLOC_RANGE");
  run->add_flag("--rcu", options.rcu, "Run the tree in RCU mode");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "mmtorture: %s\n", e.what());
    return 2;
  }
  if (run->parsed()) {
    SeedRange seeds;
    std::string error;
    if (!parse_seed_range(seeds_text, seeds, error)) {
      std::fprintf(stderr, "mmtorture: %s\n", error.c_str());
      return 2;
    }
    options.alloc_range_tree = !plain_tree;
    return run_maple(seeds, options);
  }
  return 2;
}

}  // namespace mmt::cli
