// Maple tree benchmarks, each beside a std::map interval map (key =
// range start, value = {last, entry}) doing the same work in the same binary, at 10^3
// and 10^5 ranges:
//   Load/Hit, Load/Miss   mtree_load at random indices inside / between ranges (per op)
//   StoreRange            random-order mtree_store_range of N ranges into a fresh tree
//                         (per op; tree teardown is outside the timed region)
//   StoreAscending        mtree_store_range of ranges 0..N-1 in ascending order into a
//                         fresh tree (per op), with the tree's nodes and height as
//                         counters (the shape the kernel's split and push rules give)
//   Erase                 mtree_erase of every range in random order from a full tree
//                         (per op; the tree is rebuilt outside the timed region)
//   Iterate               mas_for_each over the whole tree vs map iteration (per element)
//   Validate              mmt::maple::validate_tree, reported per node (ns_per_node)
//   StoreRange/Erase with the suffix _SlabAlloc: the same work with a benchmark-local
//                         free-list node allocator installed (set_node_allocator), the
//                         way the kernel takes nodes from a kmem_cache. The default
//                         TestNodeAllocator gets every node from aligned operator new
//                         (glibc memalign, no tcache fast path) and poisons it on free;
//                         the pair shows how much of a store's cost is that harness
//                         allocator rather than the tree.
// Ranges are [k*16, k*16+7] for k in [0, N): non-overlapping, with an 8-index gap after
// each, so a miss at k*16+8..k*16+15 lands in a NULL range of the tree.
//
// Allocation: the default TestNodeAllocator follows the kernel test harness, where
// GFP_NOWAIT node requests fail unless allowed; every store would then fail its NOWAIT
// reservation and retry through mas_nomem. A kernel with free memory does not do that,
// so main() calls default_test_allocator().set_nowait_succeeds(true) once and stores
// take the normal path.
//
// Every random sequence comes from mmt::Rng with a fixed seed, so each run does the
// same work. items_per_second is the throughput the ratio script (scripts/bench-maple)
// compares; ns_per_op / ns_per_node are the same figure inverted for reading.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <map>
#include <new>
#include <vector>

#include "mmtorture/core/rng.h"
#include "mmtorture/maple/kernel_api.h"
#include "workload.h"

namespace {

using namespace maple_bench;

struct Interval {
  unsigned long last;
  void* entry;
};
using IntervalMap = std::map<unsigned long, Interval>;

// The interval map's lookup: the range starting at or below index, if it covers index.
inline void* map_load(const IntervalMap& map, unsigned long index) {
  auto it = map.upper_bound(index);
  if (it == map.begin()) return nullptr;
  --it;
  return index <= it->second.last ? it->second.entry : nullptr;
}

void tree_fill(maple_tree* mt, const std::vector<uint64_t>& order) {
  for (uint64_t k : order)
    if (mtree_store_range(mt, range_first(k), range_last(k), range_entry(k), GFP_KERNEL) != 0)
      die("mtree_store_range failed");
}

void map_fill(IntervalMap& map, const std::vector<uint64_t>& order) {
  for (uint64_t k : order) map.emplace(range_first(k), Interval{range_last(k), range_entry(k)});
}

// A tree of n ranges built in random order, destroyed with the object.
struct Tree {
  maple_tree mt;
  explicit Tree(uint64_t n) {
    mt_init(&mt);
    tree_fill(&mt, shuffled(n, 1));
  }
  ~Tree() { mtree_destroy(&mt); }
  Tree(const Tree&) = delete;
  Tree& operator=(const Tree&) = delete;
};

// A slab-like node cache: nodes come from 64-node chunks and return to a free list;
// memory goes back to the heap only when the allocator dies. Install it only while no
// tree holds nodes (set_node_allocator's rule).
class SlabNodeAllocator final : public mmt::maple::NodeAllocator {
 public:
  SlabNodeAllocator() = default;
  SlabNodeAllocator(const SlabNodeAllocator&) = delete;
  SlabNodeAllocator& operator=(const SlabNodeAllocator&) = delete;
  ~SlabNodeAllocator() override {
    for (maple_node* chunk : chunks_) ::operator delete[](chunk, std::align_val_t{alignof(maple_node)});
  }
  maple_node* alloc_node(mmt::gfp_t, mmt::Site) override {
    if (!free_) refill();
    maple_node* node = free_;
    free_ = next_of(node);
    ++live_;
    return node;
  }
  void free_node(maple_node* node) override {
    next_of(node) = free_;
    free_ = node;
    --live_;
  }
  uint64_t live_nodes() const override { return live_; }

 private:
  static constexpr size_t kChunk = 64;
  static maple_node*& next_of(maple_node* node) { return *reinterpret_cast<maple_node**>(node); }
  void refill() {
    auto* chunk = static_cast<maple_node*>(
        ::operator new[](kChunk * sizeof(maple_node), std::align_val_t{alignof(maple_node)}));
    chunks_.push_back(chunk);
    for (size_t i = kChunk; i-- > 0;) {
      next_of(&chunk[i]) = free_;
      free_ = &chunk[i];
    }
  }
  maple_node* free_ = nullptr;
  uint64_t live_ = 0;
  std::vector<maple_node*> chunks_;
};

// Installs a SlabNodeAllocator for one benchmark (when `on`), restoring the default after.
struct AllocatorScope {
  SlabNodeAllocator slab;
  bool on;
  explicit AllocatorScope(bool use_slab) : on(use_slab) {
    if (on) mmt::maple::set_node_allocator(&slab);
  }
  ~AllocatorScope() {
    if (on) mmt::maple::set_node_allocator(nullptr);
  }
  AllocatorScope(const AllocatorScope&) = delete;
  AllocatorScope& operator=(const AllocatorScope&) = delete;
};

// ---- lookups ---------------------------------------------------------------------------

void BM_MapleLoad(benchmark::State& state, bool hit) {
  const auto n = static_cast<uint64_t>(state.range(0));
  Tree tree(n);
  const auto idx = probes(n, hit, 2);
  size_t i = 0;
  for (auto _ : state) {
    void* entry = mtree_load(&tree.mt, idx[i++ & (kProbes - 1)]);
    benchmark::DoNotOptimize(entry);
  }
  if (!hit && mtree_load(&tree.mt, idx[0]) != nullptr) die("miss probe hit");
  if (hit && mtree_load(&tree.mt, idx[0]) == nullptr) die("hit probe missed");
  set_per_op(state, 1);
}

void BM_MapLoad(benchmark::State& state, bool hit) {
  const auto n = static_cast<uint64_t>(state.range(0));
  IntervalMap map;
  map_fill(map, shuffled(n, 1));
  const auto idx = probes(n, hit, 2);
  size_t i = 0;
  for (auto _ : state) {
    void* entry = map_load(map, idx[i++ & (kProbes - 1)]);
    benchmark::DoNotOptimize(entry);
  }
  if ((map_load(map, idx[0]) != nullptr) != hit) die("map probe mismatch");
  set_per_op(state, 1);
}

// ---- random-order store into a fresh tree ---------------------------------------------------

void MapleStoreRange(benchmark::State& state, bool slab) {
  AllocatorScope scope(slab);
  const auto n = static_cast<uint64_t>(state.range(0));
  const auto order = shuffled(n, 3);
  for (auto _ : state) {
    state.PauseTiming();
    maple_tree mt;
    mt_init(&mt);
    state.ResumeTiming();
    tree_fill(&mt, order);
    state.PauseTiming();
    mtree_destroy(&mt);
    state.ResumeTiming();
  }
  set_per_op(state, n);
}

void BM_MapleStoreRange(benchmark::State& state) { MapleStoreRange(state, false); }
void BM_MapleStoreRange_SlabAlloc(benchmark::State& state) { MapleStoreRange(state, true); }

void BM_MapStoreRange(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  const auto order = shuffled(n, 3);
  for (auto _ : state) {
    state.PauseTiming();
    auto* map = new IntervalMap;
    state.ResumeTiming();
    map_fill(*map, order);
    benchmark::ClobberMemory();
    state.PauseTiming();
    delete map;
    state.ResumeTiming();
  }
  set_per_op(state, n);
}

// ---- ascending store (appends into the rightmost leaf) into a fresh tree --------------------
// Also reports the tree it builds (nodes, height): the shape the kernel's split and
// push rules give an ascending load.

void BM_MapleStoreAscending(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  std::vector<uint64_t> order(n);
  for (uint64_t i = 0; i < n; ++i) order[i] = i;
  uint64_t nodes = 0, height = 0;
  for (auto _ : state) {
    state.PauseTiming();
    maple_tree mt;
    mt_init(&mt);
    state.ResumeTiming();
    tree_fill(&mt, order);
    state.PauseTiming();
    nodes = mmt::maple::count_tree_nodes(&mt);
    height = mt_height(&mt);
    mtree_destroy(&mt);
    state.ResumeTiming();
  }
  state.counters["nodes"] = static_cast<double>(nodes);
  state.counters["height"] = static_cast<double>(height);
  set_per_op(state, n);
}

void BM_MapStoreAscending(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    auto* map = new IntervalMap;
    state.ResumeTiming();
    for (uint64_t k = 0; k < n; ++k)
      map->emplace_hint(map->end(), range_first(k), Interval{range_last(k), range_entry(k)});
    benchmark::ClobberMemory();
    state.PauseTiming();
    delete map;
    state.ResumeTiming();
  }
  set_per_op(state, n);
}

// ---- random-order erase of every range from a full tree ---------------------------------------

void MapleErase(benchmark::State& state, bool slab) {
  AllocatorScope scope(slab);
  const auto n = static_cast<uint64_t>(state.range(0));
  const auto build = shuffled(n, 1);
  const auto order = shuffled(n, 4);
  for (auto _ : state) {
    state.PauseTiming();
    maple_tree mt;
    mt_init(&mt);
    tree_fill(&mt, build);
    state.ResumeTiming();
    for (uint64_t k : order) {
      void* entry = mtree_erase(&mt, range_first(k));
      benchmark::DoNotOptimize(entry);
    }
    state.PauseTiming();
    if (!mtree_empty(&mt) && mtree_load(&mt, range_first(order[0])) != nullptr) die("erase left an entry");
    mtree_destroy(&mt);
    state.ResumeTiming();
  }
  set_per_op(state, n);
}

void BM_MapleErase(benchmark::State& state) { MapleErase(state, false); }
void BM_MapleErase_SlabAlloc(benchmark::State& state) { MapleErase(state, true); }

void BM_MapErase(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  const auto build = shuffled(n, 1);
  const auto order = shuffled(n, 4);
  for (auto _ : state) {
    state.PauseTiming();
    IntervalMap map;
    map_fill(map, build);
    state.ResumeTiming();
    for (uint64_t k : order) {
      auto erased = map.erase(range_first(k));
      benchmark::DoNotOptimize(erased);
    }
    state.PauseTiming();
    if (!map.empty()) die("map erase left an entry");
    state.ResumeTiming();  // the empty map's destructor is trivial work
  }
  set_per_op(state, n);
}

// ---- full iteration ------------------------------------------------------------------------

void BM_MapleIterate(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  Tree tree(n);
  for (auto _ : state) {
    MA_STATE(mas, &tree.mt, 0, 0);
    void* entry;
    uint64_t count = 0;
    rcu_read_lock();
    mas_for_each(&mas, entry, ULONG_MAX) {
      benchmark::DoNotOptimize(entry);
      ++count;
    }
    rcu_read_unlock();
    if (count != n) die("mas_for_each count mismatch");
  }
  set_per_op(state, n, "ns_per_elem");
}

void BM_MapIterate(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  IntervalMap map;
  map_fill(map, shuffled(n, 1));
  for (auto _ : state) {
    uint64_t count = 0;
    for (const auto& [first, interval] : map) {
      void* entry = interval.entry;
      benchmark::DoNotOptimize(entry);
      ++count;
    }
    if (count != n) die("map iteration count mismatch");
  }
  set_per_op(state, n, "ns_per_elem");
}

// ---- validation ----------------------------------------------------------------------------

void BM_MapleValidate(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  Tree tree(n);
  const uint64_t nodes = mmt::maple::count_tree_nodes(&tree.mt);
  for (auto _ : state) {
    auto failure = mmt::maple::validate_tree(&tree.mt);
    if (failure) die("validate_tree failed on a good tree");
  }
  state.counters["nodes"] = static_cast<double>(nodes);
  set_per_op(state, nodes, "ns_per_node");
}

void Sizes(benchmark::internal::Benchmark* b) { b->Arg(1000)->Arg(100000); }

BENCHMARK_CAPTURE(BM_MapleLoad, Hit, true)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_MapLoad, Hit, true)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_MapleLoad, Miss, false)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_MapLoad, Miss, false)->Apply(Sizes);
BENCHMARK(BM_MapleStoreRange)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MapStoreRange)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MapleStoreAscending)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MapStoreAscending)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MapleErase)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MapErase)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MapleIterate)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MapIterate)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MapleValidate)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MapleStoreRange_SlabAlloc)->Apply(Sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MapleErase_SlabAlloc)->Apply(Sizes)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  // See the header comment: NOWAIT node requests succeed, as in a kernel with memory.
  mmt::maple::default_test_allocator().set_nowait_succeeds(true);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
