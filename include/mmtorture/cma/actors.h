// Actors: green-thread bodies that drive a CMA world, each drawing every decision
// (sizes, addresses, hold times, which page) from the world's ChoiceSource so a run is
// a function of its choices. Spawn the bodies these functions return on a Scheduler;
// everything they reference must outlive its run.
//
//   cma_client       camera/codec-like: allocate a large aligned buffer, hold it, release
//   short_pinner     direct-I/O-like: pin a few pages, yield or sleep briefly, unpin
//   longterm_pinner  VFIO-like: FOLL_LONGTERM pins held for a long virtual time
//   forker           fork + exit of a process: the fork (get_page before
//                    page_dup_rmap) and exit (put_page after the TLB flush) windows
//   page_toucher     marks mapped pages accessed: references parked in the LRU batch
//   memory_hog       maps, faults and unmaps memory: pressure, and pages lent into CMA
//   killer           sends a fatal signal to a thread at a virtual time
// Background actors (pinners, forkers, touchers, hogs) run until ActorContext::stop is
// set (by the last client) or their own op budget is spent.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mmtorture/cma/cma.h"
#include "mmtorture/core/choice.h"
#include "mmtorture/sched/thread.h"
#include "mmtorture/vma/mm.h"

namespace mmt::cma {

// A process the actors work on: an address space with `pages` anonymous pages mapped
// (and populated by whoever sets it up) from `base`.
struct Process {
  std::unique_ptr<vma::Mm> mm;
  unsigned long base = 0x400000;
  unsigned long pages = 0;
};

struct ActorContext {
  ChoiceSource& choices;
  Cma& cma;
  vma::VmContext& vm;
  // Run after every actor operation (the world's checks); may throw FailureError.
  std::function<void(const char* after)> check;
  unsigned clients_running = 0;  // the last client to finish sets stop
  bool stop = false;
};

// One cma_alloc call as a client saw it.
struct CmaCall {
  uint64_t start_ms = 0;
  uint64_t end_ms = UINT64_MAX;  // UINT64_MAX while in flight (a hung call stays so)
  uint64_t pages = 0;
  int error = 0;
};

struct CmaClientOptions {
  CmaArea* area = nullptr;
  unsigned allocations = 4;
  uint64_t min_pages = 64;
  uint64_t max_pages = 256;
  // The align order is drawn in [min_align, max_align]. Unaligned requests slide one
  // bit per busy candidate (bitmap_no + mask + 1): a crawl over the whole area.
  unsigned min_align = 0;
  unsigned max_align = 8;
  uint64_t max_hold_ms = 200;       // buffer held for a drawn time in [0, max_hold_ms]
  uint64_t max_gap_ms = 100;        // pause before each allocation
  double nofail_probability = 0.5;  // share of calls made with __GFP_NOFAIL
};

// Each call is logged in `calls` (which must outlive the run); a fatal signal ends the
// client after its current call.
std::function<void()> cma_client(ActorContext& ctx, CmaClientOptions options, std::vector<CmaCall>& calls);

struct PinnerOptions {
  unsigned ops = 50;             // pin/unpin rounds
  unsigned max_pages = 4;        // pages per pin_user_pages call
  uint64_t max_hold_ms = 5;      // 0: hold across a yield point only
};
std::function<void()> short_pinner(ActorContext& ctx, Process& process, PinnerOptions options);

struct LongtermPinnerOptions {
  unsigned pins = 8;              // single pages pinned, drawn from the process's pages
  uint64_t hold_ms = 120'000;     // how long the pins are held
  uint64_t progress_every_ms = 10'000;  // the holder is alive: it reports progress
};
std::function<void()> longterm_pinner(ActorContext& ctx, Process& process, LongtermPinnerOptions options);

struct ForkerOptions {
  unsigned ops = 20;
  uint64_t max_child_ms = 20;  // the child lives this long before it exits
};
std::function<void()> forker(ActorContext& ctx, Process& process, ForkerOptions options);

struct ToucherOptions {
  unsigned ops = 200;
  uint64_t max_gap_ms = 2;
};
std::function<void()> page_toucher(ActorContext& ctx, Process& process, ToucherOptions options);

struct HogOptions {
  unsigned ops = 20;
  unsigned long max_pages = 128;  // mapped and faulted per round, unmapped at the end of it
  uint64_t max_hold_ms = 20;
};
std::function<void()> memory_hog(ActorContext& ctx, vma::VmContext& vm, HogOptions options);

// Sends a fatal signal to `*target` at virtual time at_ms (the pointer is read then,
// so it may be filled in after spawning). `*sent_ms` records when it did.
std::function<void()> killer(sched::Thread* const* target, uint64_t at_ms, uint64_t* sent_ms);

}  // namespace mmt::cma
