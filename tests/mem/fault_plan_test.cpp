// The fault plan's knobs, each on its own, with the kernel's semantics (fault_plan.h),
// and the rule that every random decision is one recorded AllocFail choice.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mem_test_util.h"
#include "mmtorture/mem/slab.h"

namespace mmt::mem {
namespace {

using testing::small_config;

// Pattern of failures ('x') and successes ('.') over n page requests.
std::string pattern(Memory& memory, int n, gfp_t gfp = gfp::kNowait, Site site = Site{"plan_test"}) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    Page* page = memory.alloc_pages(gfp, 0, site);
    out += page ? '.' : 'x';
    if (page) memory.free_pages(page, 0);
  }
  return out;
}

struct PlanWorld {
  explicit PlanWorld(uint64_t seed = 1) : choices(seed), memory(small_config(), choices, &plan) {}
  SeededChoices choices;
  FaultPlan plan;
  Memory memory;
};

TEST(FaultPlan, NoRuleNoFailureNoDraw) {
  PlanWorld world;
  EXPECT_EQ(pattern(world.memory, 5), ".....");
  EXPECT_EQ(world.choices.draws(), 0u);
}

TEST(FaultPlan, ProbabilityZeroAndOneNeedNoDraw) {
  PlanWorld world;
  world.plan.set_rule("*", GfpClass::Any, FaultRule{.probability = 0.0});
  EXPECT_EQ(pattern(world.memory, 5), ".....");
  world.plan.set_rule("*", GfpClass::Any, FaultRule{.probability = 1.0});
  EXPECT_EQ(pattern(world.memory, 5), "xxxxx");
  EXPECT_EQ(world.choices.draws(), 0u);
  EXPECT_EQ(world.memory.stats().injected_failures, 5u);
  EXPECT_EQ(world.plan.stats().injected, 5u);
}

TEST(FaultPlan, ProbabilityDrawsOneAllocFailChoicePerRequestAndReplays) {
  PlanWorld world(42);
  world.plan.set_rule("*", GfpClass::Any, FaultRule{.probability = 0.5});
  const std::string seeded = pattern(world.memory, 64, gfp::kNowait, Site{"maple_node"});
  ASSERT_EQ(world.choices.draws(), 64u);
  std::string recorded;
  for (const Choice& choice : world.choices.recorded()) {
    EXPECT_EQ(choice.kind, ChoiceKind::AllocFail);
    EXPECT_EQ(choice.site, Site{"maple_node"});
    recorded += choice.value ? 'x' : '.';
  }
  EXPECT_EQ(recorded, seeded) << "1 = fail";
  EXPECT_NE(seeded.find('x'), std::string::npos);
  EXPECT_NE(seeded.find('.'), std::string::npos);

  ReplayChoices replay(world.choices.recorded());
  FaultPlan plan;
  plan.set_rule("*", GfpClass::Any, FaultRule{.probability = 0.5});
  Memory memory(small_config(), replay, &plan);
  EXPECT_EQ(pattern(memory, 64, gfp::kNowait, Site{"maple_node"}), seeded);
  EXPECT_FALSE(replay.divergence());
  // An exhausted replay returns 0: the simplest run, where nothing fails.
  EXPECT_EQ(pattern(memory, 8, gfp::kNowait, Site{"maple_node"}), "........");
}

TEST(FaultPlan, IntervalFailsEveryNth) {
  PlanWorld world;
  world.plan.set_rule("*", GfpClass::Any, FaultRule{.probability = 1.0, .interval = 3});
  EXPECT_EQ(pattern(world.memory, 9), "..x..x..x");
}

TEST(FaultPlan, TimesLimitsTheFailures) {
  PlanWorld world;
  world.plan.set_rule("*", GfpClass::Any, FaultRule{.probability = 1.0, .times = 2});
  EXPECT_EQ(pattern(world.memory, 5), "xx...");
  EXPECT_EQ(world.plan.find_rule(Site{"plan_test"}, gfp::kNowait)->times, 0);
}

TEST(FaultPlan, SpaceIsABudgetSpentBeforeFailing) {
  PlanWorld world;
  // While space exceeds the request (4096 per page) the request passes and pays.
  world.plan.set_rule("*", GfpClass::Any, FaultRule{.probability = 1.0, .space = 3 * kPageSize});
  EXPECT_EQ(pattern(world.memory, 4), "..xx");
  EXPECT_EQ(world.plan.find_rule(Site{"plan_test"}, gfp::kNowait)->space, kPageSize);
}

TEST(FaultPlan, FailNthFailsExactlyTheNthRequestAndAloneDecidesWhileArmed) {
  PlanWorld world;
  world.plan.set_fail_nth(3);
  EXPECT_EQ(pattern(world.memory, 5, gfp::kKernel), "..x..");
  EXPECT_EQ(world.plan.fail_nth(), 0u) << "turned itself off";
  world.plan.set_rule("*", GfpClass::Any, FaultRule{.probability = 1.0});
  world.plan.set_fail_nth(2);
  EXPECT_EQ(pattern(world.memory, 3), ".xx") << "armed fail_nth overrides the rule until it fires";
  EXPECT_EQ(world.plan.stats().fail_nth_failures, 2u);
}

TEST(FaultPlan, FailNthWalksEveryAllocationIndex) {
  // The vma tests' fail-nth walk: request k of a fixed sequence fails, for every k.
  for (uint64_t nth = 1; nth <= 6; ++nth) {
    PlanWorld world;
    world.plan.set_fail_nth(nth);
    std::string expected(6, '.');
    expected[nth - 1] = 'x';
    EXPECT_EQ(pattern(world.memory, 6, gfp::kKernel), expected);
  }
}

TEST(FaultPlan, IgnoreGfpWaitFailsOnlyNonSleepingRequests) {
  PlanWorld world;
  world.plan.set_rule("*", GfpClass::Any, FaultRule{.probability = 1.0, .ignore_gfp_wait = true});
  EXPECT_EQ(pattern(world.memory, 3, gfp::kKernel), "...");
  EXPECT_EQ(pattern(world.memory, 3, gfp::kNowait), "xxx");
  EXPECT_EQ(pattern(world.memory, 3, gfp::kAtomic), "xxx");
  EXPECT_EQ(world.plan.stats().counted, 6u) << "ignored requests are not counted";
}

TEST(FaultPlan, NofailIsNeverFailedNorCounted) {
  PlanWorld world;
  world.plan.set_rule("*", GfpClass::Any, FaultRule{.probability = 1.0});
  world.plan.set_fail_nth(1);
  EXPECT_EQ(pattern(world.memory, 2, gfp::kKernel | gfp::kNofail), "..");
  EXPECT_EQ(world.plan.fail_nth(), 1u);
}

TEST(FaultPlan, TheMostSpecificRuleDecides) {
  PlanWorld world;
  world.plan.set_rule("*", GfpClass::Any, FaultRule{.probability = 0.0});
  world.plan.set_rule("mas_alloc_nodes", GfpClass::Any, FaultRule{.probability = 1.0});
  world.plan.set_rule("mas_alloc_nodes", GfpClass::Kernel, FaultRule{.probability = 0.0});
  world.plan.set_rule("*", GfpClass::Nowait, FaultRule{.probability = 1.0, .times = 1});
  EXPECT_EQ(pattern(world.memory, 2, gfp::kNowait, Site{"mas_alloc_nodes"}), "xx");
  EXPECT_EQ(pattern(world.memory, 2, gfp::kKernel, Site{"mas_alloc_nodes"}), "..");
  EXPECT_EQ(pattern(world.memory, 2, gfp::kNowait, Site{"vm_area_alloc"}), "x.");
  EXPECT_EQ(pattern(world.memory, 2, gfp::kKernel, Site{"vm_area_alloc"}), "..");
}

TEST(FaultPlan, PressureFailsNowaitBelowMinEvenFromAPartialSlab) {
  PlanWorld world;
  world.plan.set_rule("*", GfpClass::Any, FaultRule{.pressure = true});
  KmemCache nodes(world.memory, "maple_node", 256, 256);
  void* first = nodes.alloc(gfp::kKernel, Site{"mas_alloc_nodes"});  // a partial slab with 15 free
  ASSERT_NE(first, nullptr);
  std::vector<Page*> held = testing::fill_to(world.memory, world.memory.min_pages() - 1);
  ASSERT_LT(world.memory.nr_free_pages(), world.memory.min_pages());
  EXPECT_EQ(nodes.alloc(gfp::kNowait, Site{"mas_alloc_nodes"}), nullptr);
  EXPECT_EQ(world.plan.stats().pressure_failures, 1u);
  void* atomic = nodes.alloc(gfp::kAtomic, Site{"mas_alloc_nodes"});
  EXPECT_NE(atomic, nullptr) << "__GFP_HIGH is exempt";
  void* sleeping = nodes.alloc(gfp::kKernel, Site{"mas_alloc_nodes"});
  EXPECT_NE(sleeping, nullptr);
  for (Page* page : held) world.memory.free_pages(page, 0);
  void* relieved = nodes.alloc(gfp::kNowait, Site{"mas_alloc_nodes"});
  EXPECT_NE(relieved, nullptr);
  for (void* object : {first, atomic, sleeping, relieved}) nodes.free(object);
  EXPECT_EQ(world.choices.draws(), 0u);
}

// failslab's per-cache attribute and fail_page_alloc: a rule named after the object
// (the slab cache, or "pages") beats "*" and loses to the exact site.
TEST(FaultPlan, ObjectRulesSitBetweenTheSiteAndStar) {
  PlanWorld world;
  world.plan.set_rule("*", GfpClass::Any, FaultRule{.probability = 0.0});
  world.plan.set_rule("vm_area_struct", GfpClass::Kernel, FaultRule{.probability = 1.0});
  world.plan.set_rule("pages", GfpClass::Kernel, FaultRule{.probability = 1.0});
  world.plan.set_rule("wp_page_copy", GfpClass::Any, FaultRule{.probability = 0.0});
  KmemCache vmas(world.memory, "vm_area_struct", 200);
  KmemCache nodes(world.memory, "maple_node", 256, 256);
  EXPECT_EQ(vmas.alloc(gfp::kKernel, Site{"vm_area_alloc"}), nullptr);
  void* nowait = vmas.alloc(gfp::kNowait, Site{"vm_area_alloc"});
  EXPECT_NE(nowait, nullptr) << "the rule is for sleeping requests only";
  void* node = nodes.alloc(gfp::kKernel, Site{"mas_alloc_nodes"});
  EXPECT_NE(node, nullptr) << "another cache keeps the '*' rule";
  EXPECT_EQ(pattern(world.memory, 2, gfp::kKernel, Site{"do_anonymous_page"}), "xx");
  EXPECT_EQ(pattern(world.memory, 2, gfp::kKernel, Site{"wp_page_copy"}), "..") << "the exact site wins";
  EXPECT_EQ(pattern(world.memory, 2, gfp::kNowait, Site{"do_anonymous_page"}), "..");
  EXPECT_EQ(vmas.stats().failures_by_class.kernel, 1u);
  EXPECT_EQ(vmas.stats().failures_by_class.nowait, 0u);
  EXPECT_EQ(world.memory.stats().failures_by_class.kernel, 2u);
  EXPECT_EQ(world.plan.stats().injected_by_class.kernel, 3u);
  vmas.free(nowait);
  nodes.free(node);
}

// "Too small to fail": on, a sleeping request of order <= 3 is never injected (nor
// counted); costly orders and non-sleeping requests still are.
TEST(FaultPlan, TooSmallToFailSparesSmallSleepingRequestsOnly) {
  PlanWorld world;
  world.plan.set_rule("*", GfpClass::Any, FaultRule{.probability = 1.0});
  world.plan.set_too_small_to_fail(true);
  KmemCache vmas(world.memory, "vm_area_struct", 200);
  void* vma = vmas.alloc(gfp::kKernel, Site{"vm_area_alloc"});
  EXPECT_NE(vma, nullptr);
  EXPECT_EQ(pattern(world.memory, 2, gfp::kKernel), "..");
  EXPECT_EQ(pattern(world.memory, 2, gfp::kNowait), "xx");
  Page* order3 = world.memory.alloc_pages(gfp::kKernel, 3, Site{"plan_test"});
  EXPECT_NE(order3, nullptr);
  world.memory.free_pages(order3, 3);
  EXPECT_EQ(world.memory.alloc_pages(gfp::kKernel, 4, Site{"plan_test"}), nullptr) << "order 4 is costly";
  EXPECT_EQ(world.plan.stats().counted, 3u);
  world.plan.set_too_small_to_fail(false);
  EXPECT_EQ(vmas.alloc(gfp::kKernel, Site{"vm_area_alloc"}), nullptr) << "off: failslab fails GFP_KERNEL too";
  vmas.free(vma);
}

TEST(FaultPlan, RulesParseFromText) {
  const FaultRuleSpec spec = parse_fault_rule("alloc_migration_target: FOLL_LONGTERM:kernel:0.25");
  EXPECT_EQ(spec.site, "alloc_migration_target: FOLL_LONGTERM");
  EXPECT_EQ(spec.gfp_class, GfpClass::Kernel);
  EXPECT_EQ(spec.probability, 0.25);
  EXPECT_EQ(parse_fault_rule("*:nowait:1").gfp_class, GfpClass::Nowait);
  EXPECT_EQ(parse_fault_rule("pages:any:0").gfp_class, GfpClass::Any);
  for (const char* bad : {"pages", "pages:0.5", ":kernel:0.5", "pages:sleepy:0.5", "pages:kernel:", "pages:kernel:2",
                          "pages:kernel:0.5x", "pages:kernel:-1"}) {
    try {
      parse_fault_rule(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const ConfigError& error) {
      EXPECT_EQ(error.key, "rules") << bad;
      EXPECT_NE(std::string(error.what()).find(bad), std::string::npos)
          << error.what();
    }
  }
}

TEST(FaultPlan, BadKnobsAreRejectedNamingThem) {
  FaultPlan plan;
  auto field_of = [&](FaultRule rule) {
    try {
      plan.set_rule("*", GfpClass::Any, rule);
    } catch (const ConfigError& error) {
      return error.key;
    }
    return std::string("accepted");
  };
  EXPECT_EQ(field_of(FaultRule{.probability = 1.5}), "probability");
  EXPECT_EQ(field_of(FaultRule{.probability = -0.1}), "probability");
  EXPECT_EQ(field_of(FaultRule{.interval = 0}), "interval");
  EXPECT_EQ(field_of(FaultRule{.times = -2}), "times");
  EXPECT_EQ(field_of(FaultRule{.probability = 0.25, .interval = 4, .times = 3, .space = 100}), "accepted");
}

}  // namespace
}  // namespace mmt::mem
