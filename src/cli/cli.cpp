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
#include "mmtorture/campaign/vm_world.h"
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

int run_world(const SeedRange& seeds, const campaign::VmWorldOptions& options) {
  std::printf("mmtorture run: vm world, seeds %llu..%llu, ops %llu per seed, workers %u, mm_slots %u, "
              "memory_pages %llu, nowait_fail_probability %g, preempt_probability %g, full_check_every %u, "
              "kswapd %s\n",
              static_cast<unsigned long long>(seeds.first), static_cast<unsigned long long>(seeds.last),
              static_cast<unsigned long long>(options.ops), options.workers, options.mm_slots,
              static_cast<unsigned long long>(options.memory_pages), options.nowait_fail_probability,
              options.preempt_probability, options.full_check_every, options.kswapd ? "on" : "off");
  std::fflush(stdout);
  const auto started = std::chrono::steady_clock::now();  // reporting only, never fed to the run
  uint64_t total_ops = 0, failures = 0, enomem = 0, virtual_ms = 0;
  for (uint64_t seed = seeds.first;; ++seed) {
    SeededChoices choices(seed);
    const auto result = campaign::run_vm_world(choices, options);
    total_ops += result.ops_done;
    enomem += result.enomem;
    virtual_ms += result.virtual_ms;
    if (result.failure) {
      ++failures;
      const Failure& f = *result.failure;
      std::printf("%s\n  seed %llu, op %llu, %zu choices drawn\n%s", f.headline().c_str(),
                  static_cast<unsigned long long>(seed), static_cast<unsigned long long>(f.op_index), choices.draws(),
                  f.dump.c_str());
    } else {
      std::printf("seed %llu: %llu ops, %llu -ENOMEM, %llu faults, %llu forks, %llu exits, max %llu VMAs, "
                  "min free %llu pages, %llu reclaimed, %llu switches, %llu virtual ms, trace %016llx\n",
                  static_cast<unsigned long long>(seed), static_cast<unsigned long long>(result.ops_done),
                  static_cast<unsigned long long>(result.enomem), static_cast<unsigned long long>(result.faults),
                  static_cast<unsigned long long>(result.forks), static_cast<unsigned long long>(result.exits),
                  static_cast<unsigned long long>(result.max_vmas),
                  static_cast<unsigned long long>(result.min_free_pages),
                  static_cast<unsigned long long>(result.pages_reclaimed),
                  static_cast<unsigned long long>(result.switches), static_cast<unsigned long long>(result.virtual_ms),
                  static_cast<unsigned long long>(result.trace_hash));
    }
    std::fflush(stdout);
    if (seed == seeds.last) break;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("SUMMARY: %llu seeds, %llu ops (checked after every op), %llu -ENOMEM, %llu virtual ms, "
              "%llu failing seeds, %.0f ops/s\n",
              static_cast<unsigned long long>(seeds.last - seeds.first + 1), static_cast<unsigned long long>(total_ops),
              static_cast<unsigned long long>(enomem), static_cast<unsigned long long>(virtual_ms),
              static_cast<unsigned long long>(failures), seconds > 0 ? static_cast<double>(total_ops) / seconds : 0.0);
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mmtorture: deterministic memory-pressure fault-injection stress tester"};
  app.require_subcommand(1);

  auto* run = app.add_subcommand("run", "Run a seeded stress campaign");
  std::string seeds_text = "1..200";
  std::string job = "world";
  campaign::MapleStressOptions options;
  campaign::VmWorldOptions world;
  bool plain_tree = false;
  bool no_kswapd = false;
  run->add_option("--job", job, "world: address spaces under the scheduler; maple: the maple tree alone")
      ->capture_default_str()
      ->check(CLI::IsMember({"world", "maple"}));
  run->add_option("--seeds", seeds_text, "Seed or range A..B (inclusive)")->capture_default_str();
  run->add_option("--ops", options.ops, "Operations per seed")->capture_default_str()->check(CLI::Range(1ull, 1ull << 40));
  run->add_option("--nowait-fail", options.nowait_fail_probability,
                  "Probability that a GFP_NOWAIT allocation fails")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  run->add_flag("--plain-tree", plain_tree, "maple job: a tree without MT_FLAGS_ALLOC_RANGE");
  run->add_flag("--rcu", options.rcu, "maple job: run the tree in RCU mode");
  run->add_option("--workers", world.workers, "world job: workload green threads")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  run->add_option("--mms", world.mm_slots, "world job: address spaces alive at once")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  run->add_option("--memory-pages", world.memory_pages, "world job: simulated 4 KiB frames (multiple of 512)")
      ->capture_default_str()
      ->check(CLI::Range(512ull, 1ull << 24));
  run->add_option("--preempt", world.preempt_probability, "world job: chance to switch threads at a yield point")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  run->add_flag("--no-kswapd", no_kswapd, "world job: no background reclaim");

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
    if (job == "maple") {
      options.alloc_range_tree = !plain_tree;
      return run_maple(seeds, options);
    }
    if (world.memory_pages % 512 != 0) {
      std::fprintf(stderr, "mmtorture: --memory-pages: %llu is not a multiple of the 512-page pageblock\n",
                   static_cast<unsigned long long>(world.memory_pages));
      return 2;
    }
    world.ops = run->count("--ops") ? options.ops : world.ops;
    world.nowait_fail_probability = run->count("--nowait-fail") ? options.nowait_fail_probability : world.nowait_fail_probability;
    world.kswapd = !no_kswapd;
    return run_world(seeds, world);
  }
  return 2;
}

}  // namespace mmt::cli
