// Throughput of the simulated page allocator and slab: the cost every node and page
// allocation in a stress run pays, and of the full consistency check a run may do
// after every operation.
#include <benchmark/benchmark.h>

#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/mem/slab.h"

namespace {

using namespace mmt;
using namespace mmt::mem;

// Allocate a batch of pages of one order, then free them: split and merge every time.
void BM_AllocFreePages(benchmark::State& state) {
  SeededChoices choices(1);
  Memory memory(MemConfig{}, choices);
  const auto order = static_cast<unsigned>(state.range(0));
  std::vector<Page*> pages(64);
  for (auto _ : state) {
    for (Page*& page : pages) page = memory.alloc_pages(gfp::kKernel, order, Site{"bench"});
    for (Page* page : pages) memory.free_pages(page, order);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(pages.size()));
}
BENCHMARK(BM_AllocFreePages)->Arg(0)->Arg(3);

void BM_SlabAllocFree(benchmark::State& state) {
  SeededChoices choices(1);
  Memory memory(MemConfig{}, choices);
  KmemCache nodes(memory, "maple_node", 256, 256);
  std::vector<void*> objects(256);
  for (auto _ : state) {
    for (void*& object : objects) object = nodes.alloc(gfp::kNowait, Site{"bench"});
    for (void* object : objects) nodes.free(object);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(objects.size()));
}
BENCHMARK(BM_SlabAllocFree);

void BM_CheckConsistency(benchmark::State& state) {
  SeededChoices choices(1);
  MemConfig config;
  config.pages = static_cast<uint64_t>(state.range(0));
  Memory memory(config, choices);
  for (int i = 0; i < 1000; ++i) memory.alloc_pages(gfp::kKernel, static_cast<unsigned>(i % 3), Site{"bench"});
  for (auto _ : state) benchmark::DoNotOptimize(memory.check_consistency());
}
BENCHMARK(BM_CheckConsistency)->Arg(16384)->Arg(65536);

}  // namespace

BENCHMARK_MAIN();
