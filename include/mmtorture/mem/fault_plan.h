// FaultPlan: the kernel's failslab / fail_page_alloc fault injection
// (Documentation/fault-injection/fault-injection.rst), per allocation site and GFP
// class, with every random decision drawn from the run's ChoiceSource so an injected
// failure replays and shrinks like any other choice (design.md §1).
//
// Every allocation request — one alloc_pages() call or one KmemCache::alloc() — asks
// the plan once (a slab refill does not ask again). The request picks one rule, the
// most specific that exists: (site, class), (site, any), (object, class), (object,
// any), ("*", class), ("*", any). The object is what is allocated: the slab cache's
// name for a slab request ("vm_area_struct", "anon_vma", "maple_node": failslab's
// per-cache attribute) or "pages" for a page request (fail_page_alloc). Class is
// Nowait for requests that may not sleep (no __GFP_DIRECT_RECLAIM) and Kernel for
// those that may. Then, as the kernel's should_failslab()/should_fail_ex():
//
//   __GFP_NOFAIL     never fails and is not counted by anything below.
//   too_small_to_fail  plan-wide, not a failslab knob: when on, a request that may
//                    sleep and is no larger than order PAGE_ALLOC_COSTLY_ORDER (3) is
//                    never failed (and not counted) — a production kernel, where such
//                    requests loop in the allocator instead of failing. Off (the
//                    default) is a kernel with fault injection, where failslab and
//                    fail_page_alloc fail them like any other.
//   ignore_gfp_wait  when true, requests that may sleep are never failed (and not
//                    counted): only non-sleeping allocations fail. Kernel default for
//                    failslab is Y; ours is false so a rule does what it says.
//   fail_nth         plan-wide, set with set_fail_nth(n): the nth counted request from
//                    now fails and the counter turns itself off. While it is armed it
//                    alone decides — the requests before the nth succeed whatever the
//                    other knobs say — as in the kernel, where fail-nth is checked
//                    first. (The kernel's /proc/<pid>/fail-nth is per task; ours counts
//                    every thread's requests, which is the same in single-threaded
//                    walks and still deterministic in multi-threaded ones.) A request
//                    needs no rule to be counted.
//   probability      chance of failure in [0, 1] for a request that gets this far; 0
//                    turns the rule off (no further knob is evaluated, as in the
//                    kernel); 1 fails without a draw; anything between is one
//                    ChoiceSource::flip(AllocFail, site, probability), 1 = fail.
//   times            how many failures the rule may still inject; -1 = no limit.
//                    Each injected failure decrements it (fail_nth's too).
//   space            a byte budget: while space > the request's size, the request
//                    succeeds and space shrinks by the size; injection starts once
//                    the budget is used up.
//   interval         only every interval-th request that passed times and space is
//                    eligible (counter % interval == 0); 1 = every request. Combine
//                    with probability 1 for "fail every Nth".
//   pressure         not a failslab knob: a non-sleeping request without __GFP_HIGH
//                    fails whenever free pages are below the min watermark, even when
//                    it needs no new page (a slab object from a partial slab) — so node
//                    and page pressure are one. No draw. Checked after fail_nth and
//                    before probability; does not use up times.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/gfp.h"
#include "mmtorture/core/site.h"

namespace mmt::mem {

enum class GfpClass : uint8_t { Any = 0, Nowait = 1, Kernel = 2 };
const char* gfp_class_name(GfpClass gfp_class);
// Nowait for flags that may not sleep, Kernel for those that may.
GfpClass gfp_class_of(gfp_t gfp);

struct FaultRule {
  double probability = 0.0;
  uint64_t interval = 1;
  int64_t times = -1;
  uint64_t space = 0;
  bool ignore_gfp_wait = false;
  bool pressure = false;
};

// What the plan knows about one request.
struct FaultRequest {
  gfp_t gfp = 0;
  size_t bytes = 0;  // PAGE_SIZE << order, or the slab object size
  Site site;
  uint64_t free_pages = 0;  // for pressure mode
  uint64_t min_pages = 0;
  // What is allocated: the slab cache's name, or "pages" (kPagesObject) for alloc_pages.
  const char* object = kPagesObject;

  static constexpr const char* kPagesObject = "pages";
};

// Allocation failures (requests that returned null for any reason: injected, the
// watermark, reclaim giving up) per GFP class, for the per-class counts each job
// reports. Index with gfp_class_index().
struct ClassCounts {
  uint64_t nowait = 0;
  uint64_t kernel = 0;
  void add(gfp_t gfp) { ++(gfp_class_of(gfp) == GfpClass::Kernel ? kernel : nowait); }
  uint64_t total() const { return nowait + kernel; }
};

// One rule as text, "SITE:CLASS:PROBABILITY" (the campaign's faults.rules knob): SITE
// an allocation site ("vm_area_alloc", "mas_alloc_nodes", "do_anonymous_page", ...), an
// object ("vm_area_struct", "anon_vma", "maple_node", "pages") or "*"; CLASS nowait,
// kernel or any; PROBABILITY in [0, 1]. Split at the last two colons (site names may
// hold one). Throws ConfigError (field "rules") naming what is wrong.
struct FaultRuleSpec {
  std::string site;
  GfpClass gfp_class = GfpClass::Any;
  double probability = 0.0;
};
FaultRuleSpec parse_fault_rule(std::string_view text);

class FaultPlan {
 public:
  // Adds or replaces the rule for (site, class); site "*" is the default for every
  // site without its own rule. Throws ConfigError naming the knob
  // ("probability", "interval", "times") when a value is out of range.
  void set_rule(std::string_view site, GfpClass gfp_class, const FaultRule& rule);
  // Removes every rule and turns fail_nth off; counters stay.
  void clear();
  // The nth counted request from now fails (1 = the next one); 0 turns it off.
  void set_fail_nth(uint64_t nth) { fail_nth_ = nth; }
  uint64_t fail_nth() const { return fail_nth_; }
  // The "too small to fail" rule (above); off by default.
  void set_too_small_to_fail(bool on) { too_small_to_fail_ = on; }
  bool too_small_to_fail() const { return too_small_to_fail_; }

  // Decides one request; draws on `choices` only for a probability strictly between 0
  // and 1. True = fail it.
  bool should_fail(ChoiceSource& choices, const FaultRequest& request);

  // The rule a request would use, or null (for tests and the start-up banner).
  const FaultRule* find_rule(Site site, gfp_t gfp, const char* object = FaultRequest::kPagesObject) const;

  struct Stats {
    uint64_t requests = 0;  // should_fail() calls
    uint64_t counted = 0;   // requests not excluded by NOFAIL or ignore_gfp_wait
    uint64_t injected = 0;  // failures returned, any reason
    uint64_t pressure_failures = 0;
    uint64_t fail_nth_failures = 0;
    ClassCounts injected_by_class;  // injected, per GFP class of the request
  };
  const Stats& stats() const { return stats_; }

  // Per site and GFP class, in first-seen order: the requests the plan decided there and
  // how many it failed — the campaign's coverage of injection sites. Counting only: no
  // decision reads these.
  struct SiteStats {
    Site site;
    GfpClass gfp_class = GfpClass::Nowait;
    uint64_t requests = 0;
    uint64_t injected = 0;
  };
  const std::vector<SiteStats>& site_stats() const { return site_stats_; }

 private:
  struct Entry {
    std::string site;
    GfpClass gfp_class;
    FaultRule rule;
    uint64_t count = 0;  // requests that reached the interval check (the kernel's attr->count)
  };
  Entry* find_entry(Site site, const char* object, gfp_t gfp);
  bool decide(ChoiceSource& choices, const FaultRequest& request);
  void count_site(Site site, GfpClass gfp_class, bool injected);

  std::vector<Entry> entries_;  // in the order they were set; few, searched linearly
  uint64_t fail_nth_ = 0;
  bool too_small_to_fail_ = false;
  Stats stats_;
  std::vector<SiteStats> site_stats_;  // few sites: searched linearly, same pointer first
};

}  // namespace mmt::mem
