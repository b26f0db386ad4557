// Writes the fuzzers' seed corpora: seeded runs of each fuzzer's job, their recorded
// choices encoded as fuzz bytes (choices_to_fuzz_bytes), so every corpus file decodes
// to a complete, clean run. Usage: mmt_fuzz_corpus OUTDIR [SEEDS]
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "mmtorture/campaign/fuzz_jobs.h"
#include "mmtorture/campaign/repro.h"
#include "mmtorture/campaign/seed_run.h"

namespace {

void write(const std::filesystem::path& dir, uint64_t seed, const mmt::ChoiceSource& choices) {
  const auto bytes = mmt::choices_to_fuzz_bytes(choices.recorded());
  std::ofstream out(dir / ("seed-" + std::to_string(seed)), std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: mmt_fuzz_corpus OUTDIR [SEEDS]\n");
    return 2;
  }
  const std::filesystem::path root = argv[1];
  const uint64_t seeds = argc == 3 ? std::strtoull(argv[2], nullptr, 10) : 8;
  for (const char* target : {"fuzz_maple", "fuzz_vma", "fuzz_world", "fuzz_config", "fuzz_repro", "fuzz_cma"})
    std::filesystem::create_directories(root / target);
  // fuzz_config: a dictionary of every section and key (the knob table), plus values.
  {
    std::ofstream dict(root / "fuzz_config.dict");
    for (const auto& [section, doc] : mmt::campaign::section_table()) dict << "\"[" << section << "]\"\n";
    for (const auto& knob : mmt::campaign::knob_table()) dict << "\"" << knob.name << " = \"\n";
    for (const char* token : {"true", "false", "\\\"world\\\"", "\\\"maple\\\"", "\\\"random\\\"", "\\\"pct\\\"",
                              "\\\"1..100\\\"", "0.5", "1e300", "-1", "18446744073709551615", "#"})
      dict << "\"" << token << "\"\n";
  }
  // fuzz_config seeds: the default config in TOML form, one key per line.
  {
    std::ofstream out(root / "fuzz_config" / "defaults.toml");
    std::string section;
    for (const auto& knob : mmt::campaign::knob_table()) {
      if (section != knob.section) out << "[" << (section = knob.section) << "]\n";
      out << knob.name << " = " << (knob.type == mmt::campaign::KnobType::Str ? "\"x\"" : "1") << "\n";
    }
  }
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    {
      mmt::SeededChoices choices(seed);
      auto options = mmt::campaign::fuzz_maple_options();
      options.ops = 60;
      mmt::jobs::run_maple_stress(choices, options);
      write(root / "fuzz_maple", seed, choices);
    }
    {
      mmt::SeededChoices choices(seed);
      auto options = mmt::campaign::fuzz_vma_options();
      options.ops = 40;
      mmt::vma::run_page_model(choices, options);
      write(root / "fuzz_vma", seed, choices);
    }
    {
      mmt::SeededChoices choices(seed);
      mmt::campaign::run_seed(mmt::campaign::fuzz_world_config(), choices);
      write(root / "fuzz_world", seed, choices);
    }
    if (seed <= 4) {
      mmt::SeededChoices choices(seed);
      mmt::cma::run_cma_world(choices, mmt::campaign::fuzz_cma_options());
      write(root / "fuzz_cma", seed, choices);
    }
    {
      // fuzz_repro seeds: a failing run (a planted failure) written as a repro file.
      mmt::campaign::Config config = mmt::campaign::fuzz_world_config();
      config.checks.selftest_plant_fork_after_op = 10 + seed;
      mmt::SeededChoices choices(seed);
      const auto result = mmt::campaign::run_seed(config, choices);
      if (result.failure) {
        mmt::campaign::Repro repro;
        repro.tool_version = mmt::campaign::tool_version();
        repro.config = config;
        repro.seed = seed;
        repro.choices = mmt::campaign::trim_choices(choices.recorded());
        repro.failure = *result.failure;
        repro.trace_hash = result.trace_hash;
        repro.ops = result.ops;
        std::ofstream(root / "fuzz_repro" / ("seed-" + std::to_string(seed) + ".repro.json"))
            << mmt::campaign::repro_to_json(repro);
      }
    }
  }
  std::printf("wrote %llu seeds per target under %s\n", static_cast<unsigned long long>(seeds), root.c_str());
  return 0;
}
