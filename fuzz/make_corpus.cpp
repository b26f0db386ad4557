// Writes the fuzzers' seed corpora: seeded runs of each fuzzer's job, their recorded
// choices encoded as fuzz bytes (choices_to_fuzz_bytes), so every corpus file decodes
// to a complete, clean run. Usage: mmt_fuzz_corpus OUTDIR [SEEDS]
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "mmtorture/campaign/fuzz_jobs.h"
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
  for (const char* target : {"fuzz_maple", "fuzz_vma", "fuzz_world"}) std::filesystem::create_directories(root / target);
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    {
      mmt::SeededChoices choices(seed);
      auto options = mmt::campaign::fuzz_maple_options();
      options.ops = 60;
      mmt::campaign::run_maple_stress(choices, options);
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
  }
  std::printf("wrote %llu seeds per target under %s\n", static_cast<unsigned long long>(seeds), root.c_str());
  return 0;
}
