// One seed: the config's job under its canary defects (seed_run.h).
#include "mmtorture/campaign/seed_run.h"

#include <cstdlib>

#include "mmtorture/core/defects.h"
#include "mmtorture/sched/thread.h"

#if defined(MMT_SANITIZED)
#include <sanitizer/lsan_interface.h>
#endif

namespace mmt::campaign {

namespace {

// The config's canary defects for the length of one seed, the previous set restored
// after: the set is process-wide, so every run (campaign worker, replay, shrink
// candidate, selftest) gets exactly the defects its config names and no others.
class ConfigDefects {
 public:
  explicit ConfigDefects(const Config& config) : saved_(enabled_defects()) {
    clear_defects();
    for (const auto& name : config.run.defects)
      if (const auto defect = defect_from_name(name)) enable_defect(*defect);
  }
  ~ConfigDefects() {
    clear_defects();
    for (Defect defect : saved_) enable_defect(defect);
  }
  ConfigDefects(const ConfigDefects&) = delete;
  ConfigDefects& operator=(const ConfigDefects&) = delete;

 private:
  std::vector<Defect> saved_;
};

}  // namespace

SeedResult run_seed(const Config& config, ChoiceSource& choices, const SeedHooks& hooks) {
#if defined(MMT_SANITIZED)
  // A failed world abandons its address spaces on purpose (their locks and structures
  // may be broken), which LeakSanitizer would report at exit of every replay and shrink.
  // The world's own teardown leak checks (nodes, VMAs, pages) still run in clean seeds.
  __lsan::ScopedDisabler abandoned_worlds_are_not_leaks;
#endif
  ConfigDefects defects(config);
  // Whatever job it is: a run on the host that failed in a critical section must not
  // leave the next run (a shrink candidate, a replay) in atomic context.
  const sched::HostPreemptScope host_preempt;
  SeedResult out;
  static_cast<jobs::JobResult&>(out) = jobs::job_of(config).run(config, choices, hooks);
  if (out.failure && config.checks.selftest_crash && out.failure->check == "selftest.planted") std::abort();
  return out;
}

}  // namespace mmt::campaign
