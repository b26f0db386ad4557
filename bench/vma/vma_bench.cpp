// VMA manager throughput on an address space of ~200 VMAs: a mix of mprotect (splits
// and merges), page faults, and MAP_FIXED mmap/munmap, single-threaded, with
// validate_mm after every operation and without. The target: >= 100k checked ops/s
// per core in the release build.
#include <benchmark/benchmark.h>

#include <memory>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/rng.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/vma/mm.h"
#include "mmtorture/vma/ops.h"

namespace {

using namespace mmt;
using namespace mmt::vma;

constexpr unsigned long kBase = 0x10000000;
constexpr unsigned long kChunks = 200;       // 2-page chunks, alternating protection
constexpr unsigned long kChunkPages = 2;

struct BenchWorld {
  BenchWorld() : choices(1), memory(config(), choices, &plan), context(memory), mm(std::make_unique<Mm>(context)) {
    vm_mmap(*mm, kBase, kChunks * kChunkPages * kPageSize, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    for (unsigned long c = 1; c < kChunks; c += 2) do_mprotect(*mm, chunk(c), kChunkPages * kPageSize, PROT_READ);
  }
  ~BenchWorld() {
    mm.reset();
    rcu_barrier();
  }
  static mem::MemConfig config() {
    mem::MemConfig c;
    c.pages = 65536;
    return c;
  }
  static unsigned long chunk(unsigned long c) { return kBase + c * kChunkPages * kPageSize; }

  SeededChoices choices;
  mem::FaultPlan plan;
  mem::Memory memory;
  VmContext context;
  std::unique_ptr<Mm> mm;
};

void run_ops(benchmark::State& state, bool checked) {
  BenchWorld w;
  Rng rng(42);
  uint64_t ops = 0;
  for (auto _ : state) {
    const unsigned long c = rng.below(kChunks);
    switch (rng.below(4)) {
      case 0:  // flip a chunk's protection: splits or merges with its neighbours
        do_mprotect(*w.mm, BenchWorld::chunk(c), kChunkPages * kPageSize,
                    rng.below(2) ? PROT_READ : PROT_READ | PROT_WRITE);
        break;
      case 1:
      case 2:
        handle_mm_fault(*w.mm, BenchWorld::chunk(c) + rng.below(kChunkPages) * kPageSize, false);
        break;
      case 3:  // replace a chunk
        vm_mmap(*w.mm, BenchWorld::chunk(c), kChunkPages * kPageSize, c % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
        break;
    }
    if (checked) {
      auto failure = validate_mm(*w.mm);
      if (failure) state.SkipWithError(failure->message.c_str());
    }
    if (++ops % 4096 == 0) rcu_barrier();
  }
  state.counters["vmas"] = static_cast<double>(w.mm->map_count);
  state.counters["ptes"] = static_cast<double>(w.mm->rss);
  state.SetItemsProcessed(static_cast<int64_t>(ops));
}

void BM_VmaOps_Checked(benchmark::State& state) { run_ops(state, true); }
void BM_VmaOps_Unchecked(benchmark::State& state) { run_ops(state, false); }
BENCHMARK(BM_VmaOps_Checked);
BENCHMARK(BM_VmaOps_Unchecked);

}  // namespace

BENCHMARK_MAIN();
