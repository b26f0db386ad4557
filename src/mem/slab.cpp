// KmemCache (slab.h): objects carved from order-0 pages, with poisoning, misuse checks
// and the failslab decision taken once per object request.
#include "mmtorture/mem/slab.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>

#include "mmtorture/core/thread_local_spare.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/event_log.h"
#include "mmtorture/sched/yield_point.h"

#if MMT_SANITIZED
#include <sanitizer/asan_interface.h>
#endif

#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif

namespace mmt::mem {

namespace {

// A page of POISON_FREE bytes: what an untouched free object of any size reads as.
const std::array<unsigned char, kPageSize>& poison_page() {
  static const std::array<unsigned char, kPageSize> page = [] {
    std::array<unsigned char, kPageSize> bytes;
    bytes.fill(kPoisonFree);
    return bytes;
  }();
  return page;
}
}  // namespace

void KmemCache::ChunkDelete::operator()(unsigned char* chunk) const {
  ASAN_UNPOISON_MEMORY_REGION(chunk, kChunkBytes);
  ::operator delete(chunk, kChunkAlign);
}

// Chunks of destroyed caches, kept for the next caches on this OS thread
// (thread_local_spare.h). A world builds its caches per seed, and an exploration per
// schedule: each chunk was a fresh 2 MiB mapping (page faults as slab pages were
// touched, an munmap at the end) and 512 frames' slab state value-initialised, which was
// a third of an explored schedule of the seed-002 world. A kept chunk's frames are as a
// new chunk's (no slab, none retired) and new_slab sets every byte it hands out, so a
// cache cannot tell a kept chunk from a new one. Sanitizer builds do not keep them, so
// that ASan still reports a use of a dead cache's object as a use after free.
namespace {
struct SpareChunkTag;
constexpr size_t kSpareChunksMax = 32;  // 64 MiB of address space at most
#if MMT_SANITIZED
constexpr bool kKeepChunks = false;
#else
constexpr bool kKeepChunks = true;
#endif
}  // namespace

bool KmemCache::take_spare_chunk(Chunk& chunk) {
  return kKeepChunks && ThreadLocalSpare<Chunk, kSpareChunksMax, SpareChunkTag>::take(chunk);
}

void KmemCache::keep_spare_chunk(Chunk& chunk) {
  if (!kKeepChunks) return;
  for (Slab& slab : chunk.slabs) slab.retired = false;  // a new cache has retired nothing
  ThreadLocalSpare<Chunk, kSpareChunksMax, SpareChunkTag>::keep(chunk);
}

unsigned char* KmemCache::frame_memory(uint64_t pfn) {
  const size_t index = pfn / kChunkPages;
  if (index >= chunks_.size()) chunks_.resize(index + 1);
  Chunk& chunk = chunks_[index];
  if (!chunk.memory) {
    if (!take_spare_chunk(chunk)) {
      chunk.memory.reset(static_cast<unsigned char*>(::operator new(kChunkBytes, kChunkAlign)));
      chunk.slabs.resize(kChunkPages);
    }
    ASAN_POISON_MEMORY_REGION(chunk.memory.get(), kChunkBytes);  // no slab page there yet
    const std::pair<uintptr_t, uint32_t> entry{reinterpret_cast<uintptr_t>(chunk.memory.get()),
                                               static_cast<uint32_t>(index)};
    chunk_by_base_.insert(std::lower_bound(chunk_by_base_.begin(), chunk_by_base_.end(), entry), entry);
  }
  return chunk.memory.get() + (pfn % kChunkPages) * kPageSize;
}

std::optional<uint64_t> KmemCache::retired_frame(uintptr_t address) const {
  const Chunk* chunk = chunk_of(address);
  if (!chunk) return std::nullopt;
  const size_t frame = (address & (kChunkBytes - 1)) / kPageSize;
  if (!chunk->slabs[frame].retired) return std::nullopt;
  return uint64_t{static_cast<uint64_t>(chunk - chunks_.data()) * kChunkPages + frame};
}

const KmemCache::Chunk* KmemCache::find_chunk(uintptr_t base) const {
  const auto found = std::lower_bound(chunk_by_base_.begin(), chunk_by_base_.end(), base,
                                      [](const auto& entry, uintptr_t key) { return entry.first < key; });
  if (found == chunk_by_base_.end() || found->first != base) return nullptr;
  last_chunk_base_ = base;
  last_chunk_index_ = found->second;
  return &chunks_[found->second];
}

KmemCache::KmemCache(Memory& memory, std::string name, size_t object_size, size_t align)
    : memory_(memory), name_(std::move(name)), object_size_(object_size) {
  if (object_size == 0 || object_size > kPageSize)
    throw ConfigError("object_size", fmt::format("cache '{}': must be 1..{} bytes, got {}", name_, kPageSize,
                                                 object_size));
  if (align == 0 || (align & (align - 1)) != 0 || align > kPageSize)
    throw ConfigError("align", fmt::format("cache '{}': must be a power of two up to {}, got {}", name_, kPageSize,
                                           align));
  const size_t granule = std::max<size_t>(align, 8);
  stride_ = (object_size + granule - 1) / granule * granule;
  per_slab_ = kPageSize / stride_;
  stride_reciprocal_ = ((uint64_t{1} << 32) + stride_ - 1) / stride_;
}

KmemCache::~KmemCache() {
  // A destructor never throws: a slab page whose frame a failed run left in a bad state
  // cannot go back to the buddy allocator, so it stays with the (dying) Memory.
  while (all_head_) {
    try {
      discard_slab(all_head_);
    } catch (const FailureError&) {
    }
  }
  // Every slab went back (none is left pointing at its frame): the chunks can serve
  // the next cache.
  if (slab_count_ == 0)
    for (Chunk& chunk : chunks_)
      if (chunk.memory) keep_spare_chunk(chunk);
}

std::vector<uint64_t> KmemCache::slab_pfns() const {
  std::vector<uint64_t> pfns;
  pfns.reserve(slab_count_);
  for (const Slab* slab = all_head_; slab; slab = slab->all_next) pfns.push_back(slab->page->pfn);
  return pfns;
}

void KmemCache::poison(unsigned char* object) const {
  std::memset(object, kPoisonFree, stride_);
  ASAN_POISON_MEMORY_REGION(object, stride_);
}

void KmemCache::partial_add(Slab* slab) {
  slab->prev = nullptr;
  slab->next = partial_head_;
  if (partial_head_) partial_head_->prev = slab;
  partial_head_ = slab;
  slab->on_partial = true;
}

void KmemCache::partial_del(Slab* slab) {
  (slab->prev ? slab->prev->next : partial_head_) = slab->next;
  if (slab->next) slab->next->prev = slab->prev;
  slab->prev = slab->next = nullptr;
  slab->on_partial = false;
}

KmemCache::Slab* KmemCache::new_slab(Page* page) {
  unsigned char* memory = frame_memory(page->pfn);  // makes the chunk on first use
  Slab* slab = &chunks_[page->pfn / kChunkPages].slabs[page->pfn % kChunkPages];
  slab->page = page;
  slab->retired = false;
  slab->inuse = 0;
  slab->memory = memory;
  ASAN_UNPOISON_MEMORY_REGION(slab->memory, kPageSize);
  // (A kept chunk's frame may have been another cache's slab, of more objects: bits
  // past per_slab_ are never read, and cleared so the frame is as on a new chunk.)
  slab->is_free.reset();
  for (size_t i = 0; i < per_slab_; ++i) slab->is_free.set(i);
  // Object 0 on top of the stack: a fresh slab hands out objects in address order.
  slab->free_objects.clear();  // a frame's earlier slab may have left its stack full
  for (size_t i = per_slab_; i-- > 0;) slab->free_objects.push_back(static_cast<uint16_t>(i));
  std::memset(slab->memory, kPoisonFree, kPageSize);
  ASAN_POISON_MEMORY_REGION(slab->memory, kPageSize);
  page->set(PG_slab);
  page->slab = slab;
  slab->all_prev = all_tail_;
  slab->all_next = nullptr;
  (all_tail_ ? all_tail_->all_next : all_head_) = slab;
  all_tail_ = slab;
  ++slab_count_;
  ++stats_.slabs_allocated;
  return slab;
}

void KmemCache::discard_slab(Slab* slab) {
  if (slab->on_partial) partial_del(slab);
  (slab->all_prev ? slab->all_prev->all_next : all_head_) = slab->all_next;
  (slab->all_next ? slab->all_next->all_prev : all_tail_) = slab->all_prev;
  live_ -= slab->inuse;
  Page* page = slab->page;
  page->clear(PG_slab);
  page->slab = nullptr;
  // The page keeps its place in its chunk: every object on it was freed (so holds the
  // poison) and ASan reports any access until the frame is a slab page again.
  ASAN_POISON_MEMORY_REGION(slab->memory, kPageSize);
  slab->page = nullptr;
  slab->retired = true;
  slab->all_prev = slab->all_next = nullptr;
  --slab_count_;
  ++stats_.slabs_freed;
  // Last: the cache is whole again when freeing the frame raises (a page a failed run
  // left in a bad state).
  memory_.free_pages(page, 0);
}

void* KmemCache::alloc(gfp_t gfp, Site site) {
  sched::might_alloc(gfp, site);
  sched::yield_point(site);
  if (injected_failure(gfp, object_size_, site)) return nullptr;
  return alloc_object(gfp, site);
}

size_t KmemCache::alloc_bulk(gfp_t gfp, size_t count, void** out, Site site) {
  sched::might_alloc(gfp, site);
  sched::yield_point(site);
  if (count == 0) return 0;
  if (injected_failure(gfp, object_size_ * count, site)) return 0;
  for (size_t i = 0; i < count; ++i) {
    out[i] = alloc_object(gfp, site);
    if (!out[i]) {
      for (size_t j = 0; j < i; ++j) free(out[j]);
      return 0;
    }
  }
  return count;
}

bool KmemCache::injected_failure(gfp_t gfp, size_t bytes, Site site) {
  FaultPlan* plan = memory_.plan_;
  if (!plan) return false;
  const FaultRequest request{gfp, bytes, site, memory_.nr_free_, memory_.config_.min_pages, name_.c_str()};
  if (!plan->should_fail(memory_.choices_, request)) return false;
  ++stats_.injected_failures;
  ++stats_.alloc_failures;
  stats_.failures_by_class.add(gfp);
  sched::current_or_host().count_alloc_failure();
  if (sched::EventLog* log = sched::event_log())
    log->record(sched::EventKind::AllocFail,
              fmt::format("allocation fails: '{}' object ({}) at {}, injected by the fault plan", name_, gfp_text(gfp),
                          site.name),
              gfp_text(gfp));
  return true;
}

void* KmemCache::alloc_object(gfp_t gfp, Site site) {
  Slab* slab = partial_head_;
  if (!slab) {
    // Slab pages are unmovable and never zeroed as pages: objects are zeroed one by one.
    Page* page = memory_.alloc_pages_internal(gfp & ~(gfp::kZero | gfp::kMovable), 0, site, /*from_slab=*/true);
    if (!page) {
      ++stats_.alloc_failures;
      stats_.failures_by_class.add(gfp);
      sched::current_or_host().count_alloc_failure();
      if (sched::EventLog* log = sched::event_log())
        log->record(sched::EventKind::AllocFail,
                  fmt::format("allocation fails: '{}' object ({}) at {}, no page for a new slab", name_,
                              gfp_text(gfp), site.name),
                  gfp_text(gfp));
      return nullptr;
    }
    // Reclaim may have slept and let others free objects meanwhile; the new slab goes
    // first anyway, as a freshly allocated slab becomes the kernel's cpu slab.
    slab = new_slab(page);
    partial_add(slab);
  }
  const uint16_t index = slab->free_objects.back();
  slab->free_objects.pop_back();
  slab->is_free.reset(index);
  if (++slab->inuse == per_slab_) partial_del(slab);
  unsigned char* object = object_at(*slab, index);
  ASAN_UNPOISON_MEMORY_REGION(object, stride_);
  // check_object(): a write after free left the poison damaged. One memcmp against a
  // page of poison (the allocator's hottest line: a byte loop here was most of a maple
  // store's cost); the byte loop runs only to name the first damaged byte.
  if (std::memcmp(object, poison_page().data(), stride_) != 0) {
    for (size_t i = 0; i < stride_; ++i) {
      if (object[i] != kPoisonFree)
        raise_failure("slab.poison", site.name,
                      fmt::format("cache '{}': object {} of slab pfn {} was written after it was freed (byte {} is "
                                  "{:#04x}, expected {:#04x})",
                                  name_, index, slab->page->pfn, i, object[i], kPoisonFree));
    }
  }
  if (gfp & gfp::kZero) std::memset(object, 0, object_size_);
  ++live_;
  ++stats_.allocs;
  return object;
}

std::string KmemCache::describe_object(const void* object) const {
  const auto [slab, index] = locate(object);
  if (!slab) {
    const auto address = reinterpret_cast<uintptr_t>(object);
    if (const std::optional<uint64_t> pfn = retired_frame(address))
      return fmt::format("freed object {} of returned slab pfn {} of cache '{}'", (address & (kPageSize - 1)) / stride_,
                         *pfn, name_);
    return fmt::format("a pointer that is not one of cache '{}''s objects", name_);
  }
  return fmt::format("{}object {} of slab pfn {} of cache '{}'", slab->is_free.test(index) ? "freed " : "", index,
                     slab->page->pfn, name_);
}

void KmemCache::check_free(const void* object, const char* site) const {
  const auto address = reinterpret_cast<uintptr_t>(object);
  const Chunk* chunk = chunk_of(address);
  const Slab* slab = chunk ? &chunk->slabs[(address & (kChunkBytes - 1)) / kPageSize] : nullptr;
  if (!slab || !slab->page) {
    // An object of a slab returned since: every one of its objects had been freed.
    const std::optional<uint64_t> pfn = retired_frame(address);
    if (pfn && (address & (kPageSize - 1)) % stride_ == 0)
      raise_failure("slab.double_free", site,
                    fmt::format("cache '{}': object {} of slab pfn {} freed twice (its slab was returned since)", name_,
                                (address & (kPageSize - 1)) / stride_, *pfn));
    raise_failure("slab.bad_free", site,
                  fmt::format("cache '{}': freeing a pointer that is not one of its objects", name_));
  }
  const size_t offset = address - reinterpret_cast<uintptr_t>(slab->memory);
  const size_t index = object_index(offset);
  if (index * stride_ != offset || index >= per_slab_)
    raise_failure("slab.bad_free", site,
                  fmt::format("cache '{}': freeing offset {} of slab pfn {}, not the start of an object", name_, offset,
                              slab->page->pfn));
  if (slab->is_free.test(index))
    raise_failure("slab.double_free", site,
                  fmt::format("cache '{}': object {} of slab pfn {} freed twice", name_, index, slab->page->pfn));
}

void KmemCache::free(void* object) {
  if (!object) return;
  const auto [located, index] = locate(object);
  if (!located || located->is_free.test(index)) {
    check_free(object);  // raises: not one of ours, or a second free
    raise_failure("slab.bad_free", "kmem_cache_free",
                  fmt::format("cache '{}': freeing an object it does not hold", name_));
  }
  Slab* slab = const_cast<Slab*>(located);
  poison(object_at(*slab, index));
  slab->is_free.set(index);
  slab->free_objects.push_back(index);
  --live_;
  ++stats_.frees;
  if (--slab->inuse == 0) {
    discard_slab(slab);
  } else if (!slab->on_partial) {
    partial_add(slab);
  }
}

std::optional<Failure> KmemCache::check_consistency() const {
  auto fail = [&](const std::string& message) {
    return Failure{"slab.consistency", "check_consistency", fmt::format("cache '{}': {}", name_, message)};
  };
  uint64_t slabs = 0;
  uint64_t inuse = 0;
  for (const Slab* slab = all_head_; slab; slab = slab->all_next) {
    if (++slabs > slab_count_) return fail("slab list longer than its count (or loops)");
    const Page& page = *slab->page;
    if (!page.test(PG_slab) || page.slab != slab || !page.test(PG_allocated) || page.refcount != 1)
      return fail(fmt::format("slab page is not a PG_slab page owned by this slab: {}", memory_.describe_page(page)));
    if (slab->inuse == 0 || slab->inuse > per_slab_ || slab->inuse + slab->free_objects.size() != per_slab_)
      return fail(fmt::format("slab pfn {} counts {} objects in use and {} free of {}", page.pfn, slab->inuse,
                              slab->free_objects.size(), per_slab_));
    if (slab->on_partial != (slab->inuse < per_slab_))
      return fail(fmt::format("slab pfn {} with {} of {} in use is {} the partial list", page.pfn, slab->inuse,
                              per_slab_, slab->on_partial ? "on" : "off"));
    for (uint16_t index : slab->free_objects) {
      if (!slab->is_free.test(index))
        return fail(fmt::format("slab pfn {}: object {} on the free stack is in use", page.pfn, index));
    }
    inuse += slab->inuse;
  }
  if (slabs != slab_count_) return fail(fmt::format("{} slabs listed, {} counted", slabs, slab_count_));
  if (inuse != live_) return fail(fmt::format("slabs hold {} objects, live count is {}", inuse, live_));
  for (const Slab* slab = partial_head_; slab; slab = slab->next) {
    if (!slab->on_partial) return fail("slab on the partial list without its flag");
  }
  return std::nullopt;
}

}  // namespace mmt::mem
