// The seed-001 experiment (experiment.h): the grid of boots and its table.
#include "mmtorture/nommu/experiment.h"

#include <fmt/format.h>

#include <algorithm>

namespace mmt::nommu {

namespace {

uint64_t median(std::vector<uint64_t> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

NommuExperimentRow run_row(const NommuExperimentOptions& options, uint64_t memory_mib, PreallocOrder order,
                           bool to_tail) {
  NommuExperimentRow row;
  row.memory_mib = memory_mib;
  row.prealloc = order;
  row.exact_free_to_tail = to_tail;
  NommuBootOptions boot = options.boot;
  boot.memory_mib = memory_mib;
  boot.prealloc = order;
  boot.exact_free_to_tail = to_tail;
  std::vector<uint64_t> free_kib, largest_kib, blocks, oom_steps;
  for (uint64_t seed = options.first_seed; seed < options.first_seed + options.seeds; ++seed) {
    std::unique_ptr<ChoiceSource> choices =
        options.make_choices ? options.make_choices(seed) : std::make_unique<SeededChoices>(seed);
    const NommuBootResult result = run_nommu_boot(*choices, boot);
    ++row.boots;
    if (result.failure) {
      ++row.failures;
      if (row.first_failure.empty())
        row.first_failure = fmt::format("seed {}: {}: {}", seed, result.failure->headline(), result.failure->message);
      continue;
    }
    if (result.oom) {
      ++row.ooms;
      oom_steps.push_back(result.oom_step);
      if (row.first_oom.empty())
        row.first_oom = fmt::format("seed {} step {}: {}", seed, result.oom_step, result.oom_what);
    }
    free_kib.push_back(result.free_pages * mem::kPageSize / 1024);
    largest_kib.push_back((mem::kPageSize << result.largest_free_order) / 1024);
    blocks.push_back(result.free_blocks_1mib);
    row.node_slab_pages += result.stats.node_slab_pages;
    row.node_slab_pages_in_tail += result.stats.node_slab_pages_in_tail;
    row.late_node_allocations += result.stats.late_node_allocations;
  }
  row.oom_rate = row.boots ? static_cast<double>(row.ooms) / static_cast<double>(row.boots) : 0.0;
  row.free_kib_median = median(free_kib);
  row.largest_free_kib_median = median(largest_kib);
  row.blocks_1mib_median = median(blocks);
  row.oom_step_median = median(oom_steps);
  return row;
}

}  // namespace

NommuExperimentResult run_nommu_experiment(const NommuExperimentOptions& options) {
  NommuExperimentResult result;
  for (uint64_t memory_mib : options.memory_mib)
    for (PreallocOrder order : options.orders)
      for (bool to_tail : options.exact_free_to_tail)
        result.rows.push_back(run_row(options, memory_mib, order, to_tail));
  return result;
}

std::string NommuExperimentResult::table() const {
  std::string out = fmt::format("{:>7} {:>8} {:>9} {:>5} {:>4} {:>6} {:>8} {:>9} {:>11} {:>8} {:>10} {:>9} {:>5}\n",
                                "memory", "prealloc", "exact", "boots", "OOM", "rate", "OOM at", "free KiB",
                                "largest KiB", ">=1MiB", "node slabs", "in a tail", "late");
  out += fmt::format("{:>7} {:>8} {:>9} {:>5} {:>4} {:>6} {:>8} {:>9} {:>11} {:>8} {:>10} {:>9} {:>5}\n", "", "nodes",
                     "free tail", "", "", "", "step", "(median)", "(median)", "(median)", "(total)", "(total)", "");
  for (const NommuExperimentRow& row : rows) {
    out +=
        fmt::format("{:>3} MiB {:>8} {:>9} {:>5} {:>4} {:>5.0f}% {:>8} {:>9} {:>11} {:>8} {:>10} {:>9} {:>5}\n",
                    row.memory_mib, prealloc_order_name(row.prealloc), row.exact_free_to_tail ? "to tail" : "to head",
                    row.boots, row.ooms, row.oom_rate * 100.0, row.ooms ? std::to_string(row.oom_step_median) : "-",
                    row.free_kib_median, row.largest_free_kib_median, row.blocks_1mib_median, row.node_slab_pages,
                    row.node_slab_pages_in_tail, row.late_node_allocations);
  }
  for (const NommuExperimentRow& row : rows) {
    if (!row.first_oom.empty()) {
      out += fmt::format("first OOM ({} MiB, {}, {}): {}\n", row.memory_mib, prealloc_order_name(row.prealloc),
                         row.exact_free_to_tail ? "to tail" : "to head", row.first_oom);
      break;
    }
  }
  for (const NommuExperimentRow& row : rows)
    if (!row.first_failure.empty())
      out += fmt::format("FAILED CHECK ({} MiB, {}, {}): {}\n", row.memory_mib, prealloc_order_name(row.prealloc),
                         row.exact_free_to_tail ? "to tail" : "to head", row.first_failure);
  return out;
}

}  // namespace mmt::nommu
