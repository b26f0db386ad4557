// The CMA canary defects are caught: a range that fails with -EBUSY and keeps its bitmap
// bits breaks the bitmap invariant; a retry-forever loop that ignores fatal signals
// (sleeping uninterruptibly, retrying -EINTR) never lets a killed client go, which the
// scheduler reports as a hang in cma_alloc. Without the defects the same worlds are clean.
#include <gtest/gtest.h>

#include "mmtorture/cma/experiment.h"
#include "mmtorture/core/defects.h"

namespace mmt::cma {
namespace {

CmaWorldOptions busy_world() {
  CmaWorldOptions options;
  options.longterm_pins = 8;  // pinned VM pages inside the area: candidates fail with -EBUSY
  options.cma.longterm_pin = LongtermPinMode::PinInPlace;
  options.cma.retry = RetryPolicy::bounded(3, 100);
  return options;
}

std::optional<Failure> first_failure(const CmaWorldOptions& options, uint64_t seeds) {
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    SeededChoices choices(seed);
    if (auto failure = run_cma_world(choices, options).failure) return failure;
  }
  return std::nullopt;
}

TEST(CmaDefects, BitmapLeakOnBusyBreaksTheBitmapInvariant) {
  EXPECT_FALSE(first_failure(busy_world(), 5).has_value()) << "control run not clean";
  DefectScope scope({Defect::CmaBitmapLeakOnBusy});
  auto failure = first_failure(busy_world(), 10);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "cma.bitmap") << failure->headline();
}

TEST(CmaDefects, UninterruptibleRetryIgnoresTheFatalSignal) {
  CmaWorldOptions options = busy_world();
  options.cma.retry = RetryPolicy::forever(100);
  options.fatal_signal_at_ms = 1000;
  options.hang_ms = 20'000;
  // Killable: the signal ends the retry loop, the run completes.
  EXPECT_FALSE(first_failure(options, 3).has_value()) << "control run not clean";
  DefectScope scope({Defect::CmaRetryUninterruptible});
  auto failure = first_failure(options, 10);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "sched.hang") << failure->headline();
  EXPECT_NE(failure->message.find("cma_alloc"), std::string::npos) << failure->message;
}

// Page isolation: a range holding pinned pages ends "PFNs busy"; that exit
// leaves the range isolated, which the check names once the call has returned. The world
// as seed004-cma-policies.toml runs it (bounded retries, a fatal signal at 1 s).
TEST(CmaDefects, ContigEarlyExitKeepsIsolationIsAnIsolationLeak) {
  CmaWorldOptions options = busy_world();
  options.cma.retry = RetryPolicy::bounded(5, 100);
  options.fatal_signal_at_ms = 1000;
  options.hang_ms = 20'000;
  EXPECT_FALSE(first_failure(options, 5).has_value()) << "control run not clean";
  DefectScope scope({Defect::ContigEarlyExitKeepsIsolation});
  auto failure = first_failure(options, 20);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "cma.isolate_leak") << failure->headline();
}

// Per-CPU lists meet CMA pageblocks: the frames cma_release frees park on the lists, and
// a range over them is free only once alloc_contig_range drains them. Skipping the drain
// fails ranges with nothing pinned in them, which only the completeness check names.
TEST(CmaDefects, ContigSkipsPcpDrainIsAnUnexplainedFailure) {
  CmaWorldOptions options = busy_world();
  options.cma.retry = RetryPolicy::bounded(5, 100);
  options.fatal_signal_at_ms = 1000;
  options.hang_ms = 20'000;
  options.pcp_batch = 15;
  EXPECT_FALSE(first_failure(options, 5).has_value()) << "control run not clean";
  DefectScope scope({Defect::ContigSkipsPcpDrain});
  auto failure = first_failure(options, 20);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "cma.unexplained_failure") << failure->headline();
  options.pcp_batch = 0;
  EXPECT_FALSE(first_failure(options, 5).has_value()) << "without per-CPU lists there is nothing to drain";
}

}  // namespace
}  // namespace mmt::cma
