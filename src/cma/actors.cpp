// The actors (actors.h). Each body draws its decisions on the world's ChoiceSource at
// named sites, runs its operations inside sched operations (so a stuck one is
// reported), and calls the world's check after each.
#include "mmtorture/cma/actors.h"

#include <cerrno>

#include "mmtorture/cma/gup.h"
#include "mmtorture/sched/sched.h"
#include "mmtorture/vma/ops.h"

namespace mmt::cma {

namespace {

constexpr Site kSiteClientPages{"cma_client.pages"};
constexpr Site kSiteClientAlign{"cma_client.align"};
constexpr Site kSiteClientHold{"cma_client.hold_ms"};
constexpr Site kSiteClientGap{"cma_client.gap_ms"};
constexpr Site kSiteClientNofail{"cma_client.nofail"};
constexpr Site kSitePinPage{"pinner.page"};
constexpr Site kSitePinCount{"pinner.pages"};
constexpr Site kSitePinHold{"pinner.hold_ms"};
constexpr Site kSiteLongtermPage{"longterm_pinner.page"};
constexpr Site kSiteForkLife{"forker.child_ms"};
constexpr Site kSiteTouchPage{"page_toucher.page"};
constexpr Site kSiteTouchGap{"page_toucher.gap_ms"};
constexpr Site kSiteHogPages{"memory_hog.pages"};
constexpr Site kSiteHogHold{"memory_hog.hold_ms"};

uint64_t draw_in(ChoiceSource& choices, Site site, uint64_t low, uint64_t high) {
  return high <= low ? low : low + choices.draw(ChoiceKind::Arg, site, high - low + 1);
}

void run_check(ActorContext& ctx, const char* after) {
  if (ctx.check) ctx.check(after);
}

// Ends the run for the background actors when the last client is done.
struct ClientExit {
  ActorContext& ctx;
  ~ClientExit() {
    if (--ctx.clients_running == 0) ctx.stop = true;
  }
};

}  // namespace

std::function<void()> cma_client(ActorContext& ctx, CmaClientOptions options, std::vector<CmaCall>& calls) {
  ++ctx.clients_running;
  return [&ctx, options, &calls] {
    ClientExit exit{ctx};
    for (unsigned i = 0; i < options.allocations && !sched::fatal_signal_pending(); ++i) {
      sched::msleep(draw_in(ctx.choices, kSiteClientGap, 0, options.max_gap_ms), kSiteClientGap);
      const uint64_t pages = draw_in(ctx.choices, kSiteClientPages, options.min_pages, options.max_pages);
      const unsigned align =
          static_cast<unsigned>(draw_in(ctx.choices, kSiteClientAlign, options.min_align, options.max_align));
      gfp_t gfp = gfp::kKernel;
      if (options.nofail_probability > 0 &&
          ctx.choices.flip(ChoiceKind::Arg, kSiteClientNofail, options.nofail_probability))
        gfp |= gfp::kNofail;
      calls.push_back(CmaCall{sched::now_ms(), UINT64_MAX, pages, 0});
      const size_t index = calls.size() - 1;
      int error = 0;
      mem::Page* buffer = ctx.cma.cma_alloc(*options.area, pages, align, gfp, &error);
      calls[index].end_ms = sched::now_ms();
      calls[index].error = error;
      run_check(ctx, "cma_alloc");
      if (!buffer) continue;
      sched::msleep(draw_in(ctx.choices, kSiteClientHold, 0, options.max_hold_ms), kSiteClientHold);
      ctx.cma.cma_release(*options.area, buffer, pages);
      run_check(ctx, "cma_release");
    }
  };
}

std::function<void()> short_pinner(ActorContext& ctx, Process& process, PinnerOptions options) {
  return [&ctx, &process, options] {
    for (unsigned op = 0; op < options.ops && !ctx.stop; ++op) {
      const unsigned long pages = draw_in(ctx.choices, kSitePinCount, 1, options.max_pages);
      const unsigned long first = ctx.choices.draw(ChoiceKind::Arg, kSitePinPage, process.pages - pages + 1);
      std::vector<mem::Page*> pinned;
      {
        sched::OpScope scope("pin_user_pages");
        if (pin_user_pages(ctx.cma, *process.mm, process.base + first * vma::kPageSize, pages, FOLL_WRITE, pinned) < 0)
          continue;
      }
      // Direct I/O in flight: the pages look pinned to any migration meanwhile.
      const uint64_t hold = draw_in(ctx.choices, kSitePinHold, 0, options.max_hold_ms);
      if (hold) sched::msleep(hold, kSitePinHold);
      else sched::yield_point(kSitePinHold);
      unpin_user_pages(ctx.cma, pinned, FOLL_WRITE);
      run_check(ctx, "unpin_user_pages");
    }
  };
}

std::function<void()> longterm_pinner(ActorContext& ctx, Process& process, LongtermPinnerOptions options) {
  return [&ctx, &process, options] {
    // Unpinned when the body ends, also when the scheduler unwinds it at the end of a
    // clean run; after a failure the world is abandoned and nothing is unpinned (the
    // pages' counts may be what failed, and a destructor must not throw).
    struct Pins {
      ActorContext& ctx;
      std::vector<mem::Page*> pages;
      ~Pins() {
        if (!sched::run_failed()) unpin_user_pages(ctx.cma, pages, FOLL_WRITE | FOLL_LONGTERM);
      }
    } pins{ctx, {}};
    for (unsigned i = 0; i < options.pins; ++i) {
      const unsigned long page = ctx.choices.draw(ChoiceKind::Arg, kSiteLongtermPage, process.pages);
      sched::OpScope scope("pin_user_pages(FOLL_LONGTERM)");
      pin_user_pages(ctx.cma, *process.mm, process.base + page * vma::kPageSize, 1, FOLL_WRITE | FOLL_LONGTERM,
                     pins.pages);
      run_check(ctx, "pin_user_pages(FOLL_LONGTERM)");
    }
    // Held like a VM's memory under VFIO; the holder itself is alive and well.
    for (uint64_t held = 0; held < options.hold_ms && !ctx.stop;) {
      const uint64_t step = std::min(options.progress_every_ms, options.hold_ms - held);
      sched::msleep(step, Site{"longterm_pinner: holding FOLL_LONGTERM pins"});
      sched::mark_progress();
      held += step;
    }
  };
}

std::function<void()> forker(ActorContext& ctx, Process& process, ForkerOptions options) {
  return [&ctx, &process, options] {
    for (unsigned op = 0; op < options.ops && !ctx.stop; ++op) {
      std::unique_ptr<vma::Mm> child;
      {
        sched::OpScope scope("fork");
        int error = 0;
        child = vma::dup_mm(*process.mm, &error);
      }
      run_check(ctx, "fork");
      if (!child) continue;
      sched::msleep(draw_in(ctx.choices, kSiteForkLife, 0, options.max_child_ms), kSiteForkLife);
      {
        sched::OpScope scope("exit_mmap");
        vma::exit_mmap(*child);
      }
      child.reset();
      run_check(ctx, "exit");
    }
  };
}

std::function<void()> page_toucher(ActorContext& ctx, Process& process, ToucherOptions options) {
  return [&ctx, &process, options] {
    vma::Mm& mm = *process.mm;
    for (unsigned op = 0; op < options.ops && !ctx.stop; ++op) {
      const unsigned long page = ctx.choices.draw(ChoiceKind::Arg, kSiteTouchPage, process.pages);
      {
        sched::SpinGuard ptl(mm.page_table_lock, Site{"mark_page_accessed"});
        auto it = mm.ptes.find((process.base >> vma::kPageShift) + page);
        if (it != mm.ptes.end()) ctx.cma.lru_cache().mark_page_accessed(it->second.page);
      }
      sched::msleep(draw_in(ctx.choices, kSiteTouchGap, 0, options.max_gap_ms), kSiteTouchGap);
    }
  };
}

std::function<void()> memory_hog(ActorContext& ctx, vma::VmContext& vm, HogOptions options) {
  return [&ctx, &vm, options] {
    constexpr unsigned long kHogBase = 0x10000000;
    auto mm = std::make_unique<vma::Mm>(vm);
    for (unsigned op = 0; op < options.ops && !ctx.stop; ++op) {
      const unsigned long pages = draw_in(ctx.choices, kSiteHogPages, 1, options.max_pages);
      {
        sched::OpScope scope("memory_hog: map and fault");
        if (vma::vm_mmap(*mm, kHogBase, pages * vma::kPageSize, vma::PROT_READ | vma::PROT_WRITE,
                         vma::MAP_PRIVATE | vma::MAP_ANONYMOUS | vma::MAP_FIXED) < 0)
          continue;
        for (unsigned long i = 0; i < pages; ++i)
          if (vma::handle_mm_fault(*mm, kHogBase + i * vma::kPageSize, true) != 0) break;
      }
      run_check(ctx, "memory_hog: fault");
      sched::msleep(draw_in(ctx.choices, kSiteHogHold, 0, options.max_hold_ms), kSiteHogHold);
      {
        sched::OpScope scope("memory_hog: munmap");
        vma::vm_munmap(*mm, kHogBase, pages * vma::kPageSize);
      }
      run_check(ctx, "memory_hog: munmap");
    }
    vma::exit_mmap(*mm);
  };
}

std::function<void()> killer(sched::Thread* const* target, uint64_t at_ms, uint64_t* sent_ms) {
  return [target, at_ms, sent_ms] {
    const uint64_t now = sched::now_ms();
    if (at_ms > now) sched::msleep(at_ms - now, Site{"killer: waiting"});
    if (*target && (*target)->state() != sched::ThreadState::Finished) {
      sched::send_fatal_signal(**target);
      if (sent_ms) *sent_ms = sched::now_ms();
    }
  };
}

}  // namespace mmt::cma
