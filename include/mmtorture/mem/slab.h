// KmemCache: a slab cache whose objects are carved from order-0 pages of a Memory, so
// object pressure and page pressure are one pressure (design.md §3
// mem). Maple nodes (256 B, 16 per page) and vm_area_structs come from caches like this.
//
// Objects live in host memory so ASan sees every access: a slab page's objects sit at
// a fixed place of a 2 MiB-aligned host chunk (frame pfn at byte (pfn % 512) * 4096 of
// the cache's chunk pfn / 512), so an object's address modulo 2 MiB depends on its frame
// and index alone. A pointer the code under test corrupts in its low bits (a kernel bug
// that clears a byte of a node pointer) then names the same object on every run, and
// the failure replays exactly. A returned slab page keeps its place, poisoned. A freed object is filled with the
// kernel's POISON_FREE (0x6b) and, in sanitizer builds, ASan-poisoned until it is handed out again; outside ASan an
// overwritten poison is caught when the object is reused ("slab.poison").
//
// Allocation is one request to the fault plan (failslab semantics, fault_plan.h),
// then the first partial slab's most recently freed object, else a new slab page from
// alloc_pages with the same gfp (which may enter reclaim and sleep). A slab whose last
// object is freed returns its page at once. Lists are intrusive and ordered by
// operation history, never by host addresses, so runs are deterministic.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mmtorture/core/failure.h"
#include "mmtorture/core/gfp.h"
#include "mmtorture/core/site.h"
#include "mmtorture/mem/memory.h"

namespace mmt::mem {

inline constexpr unsigned char kPoisonFree = 0x6b;  // the kernel's POISON_FREE

class KmemCache {
 public:
  // object_size 1..4096; align a power of two up to 4096 (objects are at least 8-byte
  // aligned, ASan's granule). Objects per slab = 4096 / round_up(object_size, align).
  // Throws ConfigError naming "object_size" or "align". `memory` must outlive the cache.
  KmemCache(Memory& memory, std::string name, size_t object_size, size_t align = 8);
  // Returns every slab page to the Memory (kmem_cache_destroy); objects still live are
  // freed with them — fixtures assert live_objects() == 0 first.
  ~KmemCache();
  KmemCache(const KmemCache&) = delete;
  KmemCache& operator=(const KmemCache&) = delete;

  // An object, or null on failure. might_alloc-checked and a yield point. __GFP_ZERO
  // zeroes it; otherwise its contents are the poison.
  void* alloc(gfp_t gfp, Site site);
  // kmem_cache_alloc_bulk(): `count` objects into out[0..count), all or none — on a
  // failure the objects already taken are freed and 0 is returned, else count. One
  // request to the fault plan for the whole batch (the kernel asks failslab once per
  // call), then each object as alloc() takes it (a new slab page may be needed, with
  // the same gfp).
  size_t alloc_bulk(gfp_t gfp, size_t count, void** out, Site site);
  // Frees an object of this cache (null is ignored). A pointer that is not an object
  // of this cache is "slab.bad_free", a second free "slab.double_free"; both name the
  // cache and the object.
  void free(void* object);
  // Raises what free(object) would raise (slab.bad_free, slab.double_free, at `site`)
  // without freeing it. For callers that run an object's destructor before freeing it:
  // checking first keeps a second free a named failure instead of a destructor run
  // over the poison (whose garbage pointers would crash the process).
  void check_free(const void* object, const char* site = "kmem_cache_free") const;
  // Whether `object` is an object of this cache that is allocated now. Never reads the
  // object: safe on a dangling pointer (a freed object, or one of a returned slab).
  // For checks and dumps that must not dereference what they report. (Inline, with
  // locate and chunk_of's usual answer: the checks ask it for every VMA at every
  // operation and every mmap lock and unlock.)
  bool is_live(const void* object) const {
    const auto [slab, index] = locate(object);
    return slab && !slab->is_free.test(index);
  }
  // "object N of slab pfn P" (with "freed" when it is not allocated), or "a pointer
  // that is not one of its objects". Never reads the object.
  std::string describe_object(const void* object) const;

  uint64_t live_objects() const { return live_; }
  uint64_t slab_pages() const { return slab_count_; }
  const std::string& name() const { return name_; }
  size_t object_size() const { return object_size_; }
  size_t objects_per_slab() const { return per_slab_; }
  // The frame of every slab page, oldest slab first (new slabs are appended): where the
  // cache's pages sit in physical memory, for fragmentation studies (seed 001).
  std::vector<uint64_t> slab_pfns() const;

  struct Stats {
    uint64_t allocs = 0;
    uint64_t alloc_failures = 0;
    uint64_t injected_failures = 0;  // failed by the fault plan (before any page was asked for)
    ClassCounts failures_by_class;   // alloc_failures per GFP class of the request
    uint64_t frees = 0;
    uint64_t slabs_allocated = 0;
    uint64_t slabs_freed = 0;
  };
  const Stats& stats() const { return stats_; }

  // Slab lists and counts agree and every slab page is a PG_slab page pointing back at
  // its slab (poison is checked when an object is reused). First violation as a Failure.
  std::optional<Failure> check_consistency() const;

 private:
  static constexpr size_t kChunkPages = 512;  // 2 MiB of slab pages per host chunk
  static constexpr size_t kChunkBytes = kChunkPages * kPageSize;
  static constexpr std::align_val_t kChunkAlign{kChunkBytes};  // chunks are aligned to their size

  // A frame's slab state, kept in its chunk: `page` is null while the frame is not a
  // slab page of this cache.
  struct Slab {
    Page* page = nullptr;
    unsigned char* memory = nullptr;
    uint32_t inuse = 0;
    std::vector<uint16_t> free_objects;  // LIFO: back() is handed out next
    std::bitset<kPageSize / 8> is_free;  // by object index (at most 512 objects of 8 bytes)
    Slab* prev = nullptr;  // partial list (slabs with free objects)
    Slab* next = nullptr;
    bool on_partial = false;
    Slab* all_prev = nullptr;  // every slab, oldest first
    Slab* all_next = nullptr;
    // The frame's slab was returned and no new slab of the cache has reused the frame
    // since: a second free of an object there is a double free, not a wild pointer.
    bool retired = false;
  };
  // The slab and object index of `object`, or {null, 0} when it is not the start of an
  // object of this cache.
  std::pair<const Slab*, uint16_t> locate(const void* object) const {
    const auto address = reinterpret_cast<uintptr_t>(object);
    const Chunk* chunk = chunk_of(address);
    if (!chunk) return {nullptr, 0};
    const Slab* slab = &chunk->slabs[(address & (kChunkBytes - 1)) / kPageSize];
    if (!slab->page) return {nullptr, 0};
    const size_t offset = address - reinterpret_cast<uintptr_t>(slab->memory);
    const size_t index = object_index(offset);
    if (index * stride_ != offset || index >= per_slab_) return {nullptr, 0};
    return {slab, static_cast<uint16_t>(index)};
  }
  // The fault plan's answer for one request of `bytes` (true = fail it, counted).
  bool injected_failure(gfp_t gfp, size_t bytes, Site site);
  // One object after the plan said yes: a partial slab's, else a new slab page's.
  void* alloc_object(gfp_t gfp, Site site);
  Slab* new_slab(Page* page);
  void discard_slab(Slab* slab);
  void partial_add(Slab* slab);
  void partial_del(Slab* slab);
  unsigned char* object_at(const Slab& slab, uint32_t index) const { return slab.memory + size_t{index} * stride_; }
  // offset / stride_ for an offset inside a page, by a multiplication: with the
  // reciprocal rounded up, the error is below 2^-20 for offsets below 2^12, less than
  // the 1/stride_ a quotient needs to be off by one. is_live runs per VMA per check.
  size_t object_index(size_t offset) const { return (offset * stride_reciprocal_) >> 32; }
  // The host memory of frame `pfn` used as a slab page (its chunk made on first use).
  unsigned char* frame_memory(uint64_t pfn);
  void poison(unsigned char* object) const;

  Memory& memory_;
  std::string name_;
  size_t object_size_;
  size_t stride_;
  size_t per_slab_;
  uint64_t stride_reciprocal_;  // ceil(2^32 / stride_), for object_index
  Slab* partial_head_ = nullptr;
  Slab* all_head_ = nullptr;
  Slab* all_tail_ = nullptr;
  // The 2 MiB host chunks slab pages live in, by pfn / kChunkPages (empty until a slab
  // page of the cache falls in it). A chunk holds the slab state of each of its frames,
  // so an object's slab is found from its address alone: the chunk by its base, the
  // frame by the offset — no hash lookup and no pointer to chase on the hot free and
  // is_live paths (is_live runs per VMA in every per-op check of the world).
  struct ChunkDelete {
    void operator()(unsigned char* chunk) const;
  };
  struct Chunk {
    std::unique_ptr<unsigned char[], ChunkDelete> memory;
    std::vector<Slab> slabs;  // by frame within the chunk; never resized once made
  };
  std::vector<Chunk> chunks_;
  // A chunk a destroyed cache left on this OS thread, or a new one (slab.cpp).
  static bool take_spare_chunk(Chunk& chunk);
  static void keep_spare_chunk(Chunk& chunk);
  // (host base, index into chunks_) of every chunk made, sorted by base: the way from
  // an object's address to its chunk. Looked up, never iterated.
  std::vector<std::pair<uintptr_t, uint32_t>> chunk_by_base_;
  // The chunk holding `address`, or null when no chunk of this cache does.
  const Chunk* chunk_of(uintptr_t address) const {
    const uintptr_t base = address & ~uintptr_t{kChunkBytes - 1};
    return base == last_chunk_base_ ? &chunks_[last_chunk_index_] : find_chunk(base);
  }
  // chunk_of's search of chunk_by_base_, which keeps its answer.
  const Chunk* find_chunk(uintptr_t base) const;
  // chunk_of's last answer (a chunk's base and index; base 1 is no chunk's): a check
  // that asks for every VMA asks for the chunk most of them share, and the search of
  // chunk_by_base_ was half of is_live's cost. A chunk stays at its index for the
  // cache's life, so the answer never goes stale.
  mutable uintptr_t last_chunk_base_ = 1;
  mutable uint32_t last_chunk_index_ = 0;
  // The frame of a slab this cache returned whose host page holds `address`, while no
  // new slab of the cache reuses that frame.
  std::optional<uint64_t> retired_frame(uintptr_t address) const;
  uint64_t live_ = 0;
  uint64_t slab_count_ = 0;
  Stats stats_;
};

}  // namespace mmt::mem
