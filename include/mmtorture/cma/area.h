// A CMA area (the kernel's struct cma): a pageblock-aligned run of frames whose
// pageblocks are MIGRATE_CMA, a bitmap with one bit per 2^order_per_bit pages, and the
// count of pages whose bit is clear. The buddy allocator lends the area's free pages
// to movable allocations (memory.h: rmqueue), so cma_alloc must migrate them out.
//
// The fields are public, as the kernel's struct is, so the consistency check (and the
// tests that break it on purpose) can read and write them; only Cma changes them in a
// correct run.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mmtorture/cma/bitmap.h"
#include "mmtorture/cma/stats.h"
#include "mmtorture/sched/mutex.h"
#include "mmtorture/sched/spinlock.h"

namespace mmt::cma {

// What cma_declare_contiguous / cma_init_reserved_mem take. Rejected (ConfigError
// naming the field) when: name is empty or taken ("name"); count is 0 or not a whole
// number of pageblocks ("count"); base_pfn is not pageblock-aligned ("base_pfn"); the
// area runs past the last frame ("count"); it overlaps another area ("base_pfn");
// order_per_bit exceeds kMaxOrder or does not divide count ("order_per_bit"); a frame
// in it is already allocated ("base_pfn": areas are reserved before anything runs).
struct CmaAreaConfig {
  std::string name;
  uint64_t base_pfn = 0;
  uint64_t count = 0;  // pages
  unsigned order_per_bit = 0;
};

struct CmaArea {
  explicit CmaArea(const CmaAreaConfig& config);
  CmaArea(const CmaArea&) = delete;
  CmaArea& operator=(const CmaArea&) = delete;

  std::string name;
  uint64_t base_pfn;
  uint64_t count;
  unsigned order_per_bit;
  // Bit i covers pages [base_pfn + (i << order_per_bit), +2^order_per_bit). Invariant:
  // set exactly when covered by one handed-out allocation or one in-flight reservation.
  Bitmap bitmap;
  // Pages whose bit is clear: count - (weight << order_per_bit) (v6.14's available_count).
  uint64_t available_count;
  // cma->lock: protects bitmap, available_count and the two bookkeeping lists below.
  // A spinlock, as since 2021 (it was a mutex before): nothing under it sleeps.
  sched::SpinLock lock;
  // cma->alloc_mutex: serialises alloc_contig_range per area (CmaLocking::PerAreaMutex).
  sched::Mutex alloc_mutex;
  CmaStats stats;

  // Handed out by cma_alloc and not yet released: first pfn -> pages, in pfn order.
  std::map<uint64_t, uint64_t> allocations;
  // Bits set by a cma_alloc call that has not returned yet (it is inside
  // alloc_contig_range with them). `call` identifies the call.
  struct Reservation {
    uint64_t bitmap_no;
    uint64_t bits;
    uint64_t call;
  };
  std::vector<Reservation> reservations;

  uint64_t bitmap_maxno() const { return count >> order_per_bit; }
  uint64_t end_pfn() const { return base_pfn + count; }
  bool contains(uint64_t pfn) const { return pfn >= base_pfn && pfn < end_pfn(); }
  uint64_t pfn_of_bit(uint64_t bit) const { return base_pfn + (bit << order_per_bit); }
  uint64_t bit_of_pfn(uint64_t pfn) const { return (pfn - base_pfn) >> order_per_bit; }
};

}  // namespace mmt::cma
