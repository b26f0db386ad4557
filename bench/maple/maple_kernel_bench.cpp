// The model tree beside the kernel's own lib/maple_tree.c, built into
// maple_bench only when the kernel backend is (MMT_KERNEL_SRC). Each operation twice, on
// the same workload as maple_bench.cpp's (ranges [k*16, k*16+7], the same shuffles):
//   BM_Kernel<Op>   the kernel's tree (kernel::KernelTree, through the mmtk_ C API)
//   BM_Twin<Op>     the model's tree
// and both take their nodes from the same kind of allocator, a mem::KmemCache of
// 256-byte objects on simulated pages (the kernel backend's node cache; the model gets
// it through a NodeAllocator), so the pair compares the trees, not their allocators.
// The kernel side pays one out-of-line call per operation into the mmtk_ API, which
// the model's inline-able calls do not: a few ns against operations of 30 ns and up.
//
// Both trees are plain (not MT_FLAGS_ALLOC_RANGE, not RCU), as the kernel's own
// benchmarks build them, and are driven from the host thread with no scheduler:
// their spin locks and RCU read sections cost what they cost outside a run.
// scripts/bench-maple prints the kernel / model ratio per operation at 10^3 and 10^5.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/rng.h"
#include "mmtorture/kernel/kernel_tree.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/maple/node_alloc.h"
#include "mmtorture/maple/validate.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/mem/slab.h"
#include "workload.h"

namespace {

using namespace maple_bench;
using mmt::kernel::KernelState;
using mmt::kernel::KernelTree;

std::vector<uint64_t> ascending(uint64_t n) {
  std::vector<uint64_t> order(n);
  for (uint64_t i = 0; i < n; ++i) order[i] = i;
  return order;
}

// The model's nodes from a KmemCache, as the kernel backend's are.
class CacheNodeAllocator final : public mmt::maple::NodeAllocator {
 public:
  explicit CacheNodeAllocator(mmt::mem::KmemCache& cache) : cache_(cache) {}
  maple_node* alloc_node(mmt::gfp_t flags, mmt::Site site) override {
    return static_cast<maple_node*>(cache_.alloc(flags, site));
  }
  void free_node(maple_node* node) override { cache_.free(node); }
  uint64_t live_nodes() const override { return cache_.live_objects(); }

 private:
  mmt::mem::KmemCache& cache_;
};

// One benchmark's world: simulated memory (256 MiB: a 10^5-range tree takes ~3.4 MiB
// of nodes), the node cache, the kernel environment routed to it, and the model's
// allocator switched to it. Nothing draws a choice (no fault plan): the source is only
// what mem::Memory needs to exist.
struct Nodes {
  mmt::SeededChoices choices{1};
  mmt::mem::Memory memory{config(), choices};
  mmt::mem::KmemCache cache{memory, "maple_node", 256, 256};
  mmt::kernel::KernelEnv env{cache};
  CacheNodeAllocator model_nodes{cache};

  Nodes() { mmt::maple::set_node_allocator(&model_nodes); }
  ~Nodes() {
    if (cache.live_objects() != 0) die("nodes left live at the end of a benchmark");
    mmt::maple::set_node_allocator(nullptr);
  }
  Nodes(const Nodes&) = delete;
  Nodes& operator=(const Nodes&) = delete;

  static mmt::mem::MemConfig config() {
    mmt::mem::MemConfig c;
    c.pages = 65536;
    return c;
  }
};

// The two trees behind one interface the benchmarks are written against, so each
// operation's loop is written once and only the tree differs.
struct KernelSide {
  std::unique_ptr<KernelTree> tree;
  void init() { tree = std::make_unique<KernelTree>(0); }
  void fill(const std::vector<uint64_t>& order) {
    for (uint64_t k : order)
      if (tree->mtree_store_range(range_first(k), range_last(k), range_entry(k), mmt::gfp::kKernel) != 0)
        die("kernel mtree_store_range failed");
  }
  void* load(unsigned long index) { return tree->mtree_load(index); }
  void* erase(unsigned long index) { return tree->mtree_erase(index); }
  uint64_t iterate() {
    KernelState mas(*tree, 0, 0);
    uint64_t count = 0;
    tree->mtree_lock();
    while (void* entry = mas.mas_find(ULONG_MAX)) {
      benchmark::DoNotOptimize(entry);
      ++count;
    }
    tree->mtree_unlock();
    return count;
  }
  void validate() { tree->mt_validate(); }
  unsigned height() { return tree->mt_height(); }
  void destroy() {
    tree->mtree_destroy();
    tree.reset();
  }
};

struct ModelSide {
  std::unique_ptr<maple_tree> tree;
  void init() {
    tree = std::make_unique<maple_tree>();
    mt_init(tree.get());
  }
  void fill(const std::vector<uint64_t>& order) {
    for (uint64_t k : order)
      if (mtree_store_range(tree.get(), range_first(k), range_last(k), range_entry(k), GFP_KERNEL) != 0)
        die("model mtree_store_range failed");
  }
  void* load(unsigned long index) { return mtree_load(tree.get(), index); }
  void* erase(unsigned long index) { return mtree_erase(tree.get(), index); }
  uint64_t iterate() {
    MA_STATE(mas, tree.get(), 0, 0);
    uint64_t count = 0;
    mtree_lock(tree.get());
    while (void* entry = mas_find(&mas, ULONG_MAX)) {
      benchmark::DoNotOptimize(entry);
      ++count;
    }
    mtree_unlock(tree.get());
    return count;
  }
  void validate() {
    if (mmt::maple::validate_tree(tree.get())) die("validate_tree failed on a good tree");
  }
  unsigned height() { return mt_height(tree.get()); }
  void destroy() {
    mtree_destroy(tree.get());
    tree.reset();
  }
};

template <class Side>
void Load(benchmark::State& state, bool hit) {
  Nodes nodes;
  const auto n = static_cast<uint64_t>(state.range(0));
  Side side;
  side.init();
  side.fill(shuffled(n, 1));
  const auto idx = probes(n, hit, 2);
  size_t i = 0;
  for (auto _ : state) {
    void* entry = side.load(idx[i++ & (kProbes - 1)]);
    benchmark::DoNotOptimize(entry);
  }
  if ((side.load(idx[0]) != nullptr) != hit) die("probe mismatch");
  side.destroy();
  set_per_op(state, 1);
}

// Stores of 0..n-1 in `order` into a fresh tree (per op; teardown untimed). The tree's
// height is a counter: the shape twin shows as equal heights.
template <class Side>
void Store(benchmark::State& state, const std::vector<uint64_t>& order) {
  Nodes nodes;
  uint64_t node_count = 0, height = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Side side;
    side.init();
    state.ResumeTiming();
    side.fill(order);
    state.PauseTiming();
    node_count = nodes.cache.live_objects();
    height = side.height();
    side.destroy();
    state.ResumeTiming();
  }
  state.counters["nodes"] = static_cast<double>(node_count);
  state.counters["height"] = static_cast<double>(height);
  set_per_op(state, order.size());
}

template <class Side>
void StoreRange(benchmark::State& state) {
  Store<Side>(state, shuffled(static_cast<uint64_t>(state.range(0)), 3));
}

template <class Side>
void StoreAscending(benchmark::State& state) {
  Store<Side>(state, ascending(static_cast<uint64_t>(state.range(0))));
}

template <class Side>
void Erase(benchmark::State& state) {
  Nodes nodes;
  const auto n = static_cast<uint64_t>(state.range(0));
  const auto build = shuffled(n, 1);
  const auto order = shuffled(n, 4);
  for (auto _ : state) {
    state.PauseTiming();
    Side side;
    side.init();
    side.fill(build);
    state.ResumeTiming();
    for (uint64_t k : order) {
      void* entry = side.erase(range_first(k));
      benchmark::DoNotOptimize(entry);
    }
    state.PauseTiming();
    if (side.load(range_first(order[0])) != nullptr) die("erase left an entry");
    side.destroy();
    state.ResumeTiming();
  }
  set_per_op(state, n);
}

template <class Side>
void Iterate(benchmark::State& state) {
  Nodes nodes;
  const auto n = static_cast<uint64_t>(state.range(0));
  Side side;
  side.init();
  side.fill(shuffled(n, 1));
  for (auto _ : state)
    if (side.iterate() != n) die("iteration count mismatch");
  side.destroy();
  set_per_op(state, n, "ns_per_elem");
}

template <class Side>
void Validate(benchmark::State& state) {
  Nodes nodes;
  const auto n = static_cast<uint64_t>(state.range(0));
  Side side;
  side.init();
  side.fill(shuffled(n, 1));
  const uint64_t node_count = nodes.cache.live_objects();
  for (auto _ : state) side.validate();
  side.destroy();
  state.counters["nodes"] = static_cast<double>(node_count);
  set_per_op(state, node_count, "ns_per_node");
}

void Sizes(benchmark::internal::Benchmark* b) { b->Arg(1000)->Arg(100000); }

void BM_KernelLoad(benchmark::State& state, bool hit) { Load<KernelSide>(state, hit); }
void BM_TwinLoad(benchmark::State& state, bool hit) { Load<ModelSide>(state, hit); }
void BM_KernelStoreRange(benchmark::State& state) { StoreRange<KernelSide>(state); }
void BM_TwinStoreRange(benchmark::State& state) { StoreRange<ModelSide>(state); }
void BM_KernelStoreAscending(benchmark::State& state) { StoreAscending<KernelSide>(state); }
void BM_TwinStoreAscending(benchmark::State& state) { StoreAscending<ModelSide>(state); }
void BM_KernelErase(benchmark::State& state) { Erase<KernelSide>(state); }
void BM_TwinErase(benchmark::State& state) { Erase<ModelSide>(state); }
void BM_KernelIterate(benchmark::State& state) { Iterate<KernelSide>(state); }
void BM_TwinIterate(benchmark::State& state) { Iterate<ModelSide>(state); }
void BM_KernelValidate(benchmark::State& state) { Validate<KernelSide>(state); }
void BM_TwinValidate(benchmark::State& state) { Validate<ModelSide>(state); }

BENCHMARK_CAPTURE(BM_KernelLoad, Hit, true)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_TwinLoad, Hit, true)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_KernelLoad, Miss, false)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_TwinLoad, Miss, false)->Apply(Sizes);
BENCHMARK(BM_KernelStoreRange)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TwinStoreRange)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_KernelStoreAscending)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TwinStoreAscending)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_KernelErase)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TwinErase)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_KernelIterate)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TwinIterate)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_KernelValidate)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TwinValidate)->Apply(Sizes)->Unit(benchmark::kMicrosecond);

}  // namespace
