// Retry policies under the scheduler, against a page pinned inside the only candidate
// range (the whole area): what each policy returns, after how much virtual time, how
// many sweeps, and what a fatal signal does to it. And the headline case: a
// FOLL_LONGTERM pin made "in place" makes bounded fail and forever hang (reported by
// the hang detector naming cma_alloc and the pinned pfn), while "migrate first" lets
// both succeed at once.
#include <cerrno>

#ifdef MMT_SANITIZED
#include <sanitizer/lsan_interface.h>
#endif

#include "cma_test_util.h"
#include "mmtorture/cma/actors.h"

namespace mmt::cma::testing {
namespace {

struct Outcome {
  int error = 1;
  bool allocated = false;
  uint64_t returned_ms = UINT64_MAX;
  sched::RunResult run;
};

// A process with 8 pages in CMA, page 2 (pfn 514) pinned until `unpin_at_ms`
// (UINT64_MAX: never, held by a thread that stays alive), and one client asking for
// the whole area with `gfp`; an optional fatal signal to the client at `signal_at_ms`.
Outcome whole_area_against_pin(RetryPolicy policy, gfp_t gfp, uint64_t unpin_at_ms,
                               uint64_t signal_at_ms = UINT64_MAX, uint64_t hang_ms = 60'000) {
  World world(1, CmaOptions{.retry = policy});
  vma::Mm& mm = world.process(8);
  mem::Page* pinned = world.page_at(mm, 2);
  EXPECT_EQ(pinned->pfn, kCmaBase + 2);
  world.memory.pin_user_page(pinned);
  Outcome outcome;
  sched::Thread* client = nullptr;
  outcome.run = run_threads(
      world,
      [&](sched::Scheduler& scheduler) {
        client = &scheduler.spawn("camera", [&] {
          mem::Page* page = world.cma.cma_alloc(*world.area, kCmaPages, 0, gfp, &outcome.error);
          outcome.returned_ms = sched::now_ms();
          outcome.allocated = page != nullptr;
          world.expect_consistent();
          if (page) world.cma.cma_release(*world.area, page, kCmaPages);
        });
        scheduler.spawn("holder", [&] {
          if (unpin_at_ms == UINT64_MAX) {
            while (outcome.returned_ms == UINT64_MAX) {  // holds the pin and stays alive
              sched::msleep(10'000, Site{"holder"});
              sched::mark_progress();
            }
            return;
          }
          sched::msleep(unpin_at_ms, Site{"holder"});
          world.memory.unpin_user_page(pinned);
        });
        if (signal_at_ms != UINT64_MAX) {
          scheduler.spawn("killer", [&] {
            sched::msleep(signal_at_ms, Site{"killer"});
            sched::send_fatal_signal(*client);
          });
        }
      },
      hang_ms);
  if (outcome.run.ok()) world.expect_consistent();
  if (unpin_at_ms == UINT64_MAX) world.memory.unpin_user_page(pinned);  // the holder's pin, never dropped
  outcome.run.failure.reset();  // checked by the caller through the copy below
  return outcome;
}

TEST(CmaRetry, NoneFailsAfterOneSweep) {
  World probe;  // policy name spot check
  EXPECT_EQ(RetryPolicy::none().name(), "none");
  EXPECT_EQ(RetryPolicy::bounded(5, 100).name(), "bounded(5,100ms)");
  EXPECT_EQ(RetryPolicy::forever(100, false).name(), "forever(100ms,uninterruptible)");
  const Outcome o = whole_area_against_pin(RetryPolicy::none(), gfp::kKernel, 50);
  EXPECT_FALSE(o.allocated);
  EXPECT_EQ(o.error, -EBUSY);
  EXPECT_EQ(o.returned_ms, 0u);
}

TEST(CmaRetry, BoundedGivesUpAfterNSleeps) {
  const Outcome o = whole_area_against_pin(RetryPolicy::bounded(3, 100), gfp::kKernel, 10'000);
  EXPECT_FALSE(o.allocated);
  EXPECT_EQ(o.error, -EBUSY);
  EXPECT_EQ(o.returned_ms, 300u);
}

TEST(CmaRetry, BoundedSucceedsWhenThePinGoesInTime) {
  const Outcome o = whole_area_against_pin(RetryPolicy::bounded(5, 100), gfp::kKernel, 250);
  EXPECT_TRUE(o.allocated) << o.error;
  EXPECT_EQ(o.returned_ms, 300u) << "the sweep after the third sleep";
}

TEST(CmaRetry, ForeverWaitsAsLongAsItTakes) {
  const Outcome o = whole_area_against_pin(RetryPolicy::forever(100), gfp::kKernel, 5'050);
  EXPECT_TRUE(o.allocated) << o.error;
  EXPECT_EQ(o.returned_ms, 5'100u);
}

TEST(CmaRetry, NofailOnlyRetriesOnlyNofailCallers) {
  const Outcome plain = whole_area_against_pin(RetryPolicy::nofail_only(100), gfp::kKernel, 450);
  EXPECT_EQ(plain.error, -EBUSY);
  EXPECT_EQ(plain.returned_ms, 0u);
  const Outcome nofail = whole_area_against_pin(RetryPolicy::nofail_only(100), gfp::kKernel | gfp::kNofail, 450);
  EXPECT_TRUE(nofail.allocated) << nofail.error;
  EXPECT_EQ(nofail.returned_ms, 500u);
}

TEST(CmaRetry, KillableSleepEndsAtTheSignal) {
  const Outcome o = whole_area_against_pin(RetryPolicy::forever(100), gfp::kKernel, UINT64_MAX, 150);
  EXPECT_EQ(o.error, -EINTR);
  EXPECT_EQ(o.returned_ms, 150u) << "schedule_timeout_killable wakes at once";
  EXPECT_TRUE(o.run.ok());
}

TEST(CmaRetry, UninterruptibleSleepHonoursTheSignalOneSleepLater) {
  // msleep sleeps through the signal; the next sweep's alloc_contig_range sees it.
  const Outcome o = whole_area_against_pin(RetryPolicy::forever(100, false), gfp::kKernel, UINT64_MAX, 150);
  EXPECT_EQ(o.error, -EINTR);
  EXPECT_EQ(o.returned_ms, 200u);
}

// The case: FOLL_LONGTERM pins through GUP, held by a VFIO-like thread.
struct LongtermOutcome {
  int error = 1;
  uint64_t returned_ms = UINT64_MAX;
  std::optional<Failure> failure;
  uint64_t pinned_pfn = 0;
};

LongtermOutcome whole_area_against_longterm_pin(RetryPolicy policy, LongtermPinMode mode) {
  World world(1, CmaOptions{.retry = policy, .longterm_pin = mode});
  Process app{std::make_unique<vma::Mm>(world.context), kAddr, 8};
  vma::vm_mmap(*app.mm, kAddr, 8 * vma::kPageSize, vma::PROT_READ | vma::PROT_WRITE,
               vma::MAP_PRIVATE | vma::MAP_ANONYMOUS | vma::MAP_FIXED);
  for (unsigned long i = 0; i < 8; ++i) vma::handle_mm_fault(*app.mm, kAddr + i * vma::kPageSize, true);
  LongtermOutcome outcome;
  ActorContext ctx{world.choices, world.cma, world.context, [&](const char*) { world.expect_consistent(); }};
  const sched::RunResult run = run_threads(world, [&](sched::Scheduler& scheduler) {
    scheduler.spawn("vfio", longterm_pinner(ctx, app, LongtermPinnerOptions{1, 600'000, 10'000}));
    scheduler.spawn("camera", [&] {
      sched::msleep(10, Site{"camera: after the pin"});
      outcome.pinned_pfn = world.cma.longterm_pins().begin()->first;
      world.cma.cma_alloc(*world.area, kCmaPages, 0, gfp::kKernel, &outcome.error);
      outcome.returned_ms = sched::now_ms();
      ctx.stop = true;  // the VM shuts down
    });
  });
  outcome.failure = run.failure;
  if (run.ok()) {
    world.expect_consistent();
    EXPECT_TRUE(world.cma.longterm_pins().empty());
  }
  if (outcome.error == 0) world.cma.cma_release(*world.area, world.memory.pfn_to_page(kCmaBase), kCmaPages);
  if (run.ok()) vma::exit_mmap(*app.mm);
  else world.context.abandon();  // a failed run's world: never torn down, so not leak-checked
  return outcome;
}

TEST(CmaRetry, LongtermPinInPlaceMakesBoundedFail) {
  const LongtermOutcome o = whole_area_against_longterm_pin(RetryPolicy::bounded(5, 100), LongtermPinMode::PinInPlace);
  EXPECT_FALSE(o.failure.has_value()) << o.failure->headline();
  EXPECT_EQ(o.error, -EBUSY);
  EXPECT_EQ(o.returned_ms, 510u);
  EXPECT_GE(o.pinned_pfn, kCmaBase);
}

TEST(CmaRetry, LongtermPinInPlaceMakesForeverHangNamingThePfn) {
#ifdef MMT_SANITIZED
  // The hung run's world is abandoned with its failure (its anon_vma chains included).
  __lsan::ScopedDisabler abandoned_world_is_not_a_leak;
#endif
  const LongtermOutcome o = whole_area_against_longterm_pin(RetryPolicy::forever(100), LongtermPinMode::PinInPlace);
  ASSERT_TRUE(o.failure.has_value()) << "forever against a long-term pin must hang";
  EXPECT_EQ(o.failure->check, "sched.hang");
  const std::string pfn = "pfn " + std::to_string(o.pinned_pfn);
  EXPECT_NE(o.failure->site.find("cma_alloc"), std::string::npos) << o.failure->site;
  EXPECT_NE(o.failure->site.find(pfn), std::string::npos) << o.failure->site << " should name " << pfn;
  EXPECT_NE(o.failure->message.find("operation 'cma_alloc'"), std::string::npos) << o.failure->message;
  EXPECT_EQ(o.failure->virtual_ms, 0u + 10 + 60'000) << "hang_ms after cma_alloc began";
}

TEST(CmaRetry, LongtermMigrateFirstLetsBoundedAndForeverSucceed) {
  for (const RetryPolicy& policy : {RetryPolicy::bounded(5, 100), RetryPolicy::forever(100)}) {
    const LongtermOutcome o = whole_area_against_longterm_pin(policy, LongtermPinMode::MigrateFirst);
    EXPECT_FALSE(o.failure.has_value()) << policy.name() << ": " << o.failure->headline();
    EXPECT_EQ(o.error, 0) << policy.name();
    EXPECT_EQ(o.returned_ms, 10u) << policy.name() << ": no retry needed";
    EXPECT_LT(o.pinned_pfn, kCmaBase) << "the pinned page was migrated out of CMA first";
  }
}

}  // namespace
}  // namespace mmt::cma::testing
