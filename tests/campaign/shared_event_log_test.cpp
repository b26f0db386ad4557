// The event rings a replay worker shares with its parent (shared_event_log.h): mirrored
// as they are recorded, they rebuild the very report an in-process log prints; they
// survive the worker's crash; a text too long for a record is cut and says so.
#include <gtest/gtest.h>

#include <string>

#include "campaign_test_util.h"
#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/isolated.h"
#include "mmtorture/campaign/seed_run.h"
#include "mmtorture/campaign/shared_event_log.h"
#include "mmtorture/sched/event_log.h"
#include "mmtorture/sched/sched.h"

namespace mmt::campaign {

using testing::planted_world;

namespace {

TEST(SharedEventLog, RebuildsTheReportTheMirroredLogPrints) {
  bool folded = false;
  for (size_t per_thread : {1u, 6u, 64u}) {
    for (uint64_t seed : {1u, 2u}) {
      sched::EventLog log(per_thread);
      SharedEventLog shared(per_thread);
      log.set_mirror(&shared);
      SeedHooks hooks;
      hooks.event_log = &log;
      SeededChoices choices(seed);
      const SeedResult result = run_seed(planted_world(), choices, hooks);
      ASSERT_TRUE(result.failure.has_value());
      const std::string report = log.format();
      folded |= report.find("takes and releases") != std::string::npos;
      EXPECT_EQ(shared.rebuild()->format(), report) << "per_thread " << per_thread << ", seed " << seed;
    }
  }
  EXPECT_TRUE(folded) << "the runs show folded lock pairs (a rewrite of the newest record)";
}

TEST(SharedEventLog, EventsUpToACrashOutliveTheWorker) {
  Config config = planted_world();
  config.checks.selftest_crash = true;  // the planted failure aborts the worker
  SeededChoices seeded(3);
  (void)run_seed(planted_world(), seeded);  // the same run in process, without the abort
  const std::vector<Choice> choices = seeded.recorded();

  sched::EventLog log(8);
  SharedEventLog shared(8);
  log.set_mirror(&shared);
  SeedHooks hooks;
  hooks.event_log = &log;
  const IsolatedReplay run = replay_isolated(config, choices, 300, ReplayAlignment::Exact, hooks);
  ASSERT_EQ(run.report.outcome, Outcome::Crash);
  EXPECT_EQ(run.report.result.failure->site, "SIGABRT in mmt::campaign::run_seed");
  EXPECT_TRUE(log.threads().empty()) << "the parent's own log recorded nothing: the worker had a copy";
  const std::string report = shared.rebuild()->format();
  EXPECT_NE(report.find("FAIL selftest.planted at vm_world.fork: planted failure: fork at op "), std::string::npos)
      << report;
  EXPECT_NE(report.find("T1 'kswapd0' (daemon)"), std::string::npos) << report;
}

TEST(SharedEventLog, ALongTextIsCutAndSaysSo) {
  sched::EventLog log(4);
  SharedEventLog shared(4);
  log.set_mirror(&shared);
  SeededChoices choices(1);
  sched::SchedulerOptions options;
  options.event_log = &log;
  sched::Scheduler scheduler(choices, options);
  const std::string long_text(1000, 'x');
  scheduler.spawn("writer", [&] {
    if (sched::EventLog* running = sched::event_log()) running->note(long_text);
  });
  ASSERT_TRUE(scheduler.run().ok());
  const auto rebuilt = shared.rebuild();
  const auto threads = rebuilt->threads();
  ASSERT_EQ(threads.size(), 1u);
  const auto events = threads[0]->events();
  ASSERT_EQ(events.size(), 2u);  // the note and the exit
  EXPECT_LT(events[0]->text.size(), long_text.size());
  EXPECT_TRUE(events[0]->text.ends_with(" [cut]")) << events[0]->text;
  EXPECT_EQ(events[1]->text, log.threads()[0]->events()[1]->text);
}

}  // namespace
}  // namespace mmt::campaign
