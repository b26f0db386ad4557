// Fault plan decisions (fault_plan.h), in the order of the kernel's should_failslab()
// and should_fail_ex(), so a knob means here what it means in the kernel's docs.
#include "mmtorture/mem/fault_plan.h"

#include <fmt/format.h>


#include "mmtorture/mem/config.h"

namespace mmt::mem {

const char* gfp_class_name(GfpClass gfp_class) {
  switch (gfp_class) {
    case GfpClass::Any: return "any";
    case GfpClass::Nowait: return "nowait";
    case GfpClass::Kernel: return "kernel";
  }
  return "?";
}

GfpClass gfp_class_of(gfp_t gfp) { return gfp::allows_blocking(gfp) ? GfpClass::Kernel : GfpClass::Nowait; }

void FaultPlan::set_rule(std::string_view site, GfpClass gfp_class, const FaultRule& rule) {
  if (!(rule.probability >= 0.0 && rule.probability <= 1.0))  // also rejects NaN
    throw ConfigError("probability", fmt::format("must be in [0, 1], got {}", rule.probability));
  if (rule.interval == 0) throw ConfigError("interval", "must be at least 1 (1 = every request), got 0");
  if (rule.times < -1) throw ConfigError("times", fmt::format("must be -1 (no limit) or at least 0, got {}", rule.times));
  if (site.empty()) throw ConfigError("site", "must name an allocation site or be \"*\"");
  for (Entry& entry : entries_) {
    if (entry.site == site && entry.gfp_class == gfp_class) {
      entry.rule = rule;
      entry.count = 0;
      return;
    }
  }
  entries_.push_back(Entry{std::string(site), gfp_class, rule, 0});
}

void FaultPlan::clear() {
  entries_.clear();
  fail_nth_ = 0;
}

FaultPlan::Entry* FaultPlan::find_entry(Site site, gfp_t gfp) {
  const GfpClass wanted = gfp_class_of(gfp);
  // Most specific first: exact site beats "*", an exact class beats Any.
  Entry* best = nullptr;
  int best_rank = -1;
  for (Entry& entry : entries_) {
    const bool site_exact = entry.site == site.view();
    if (!site_exact && entry.site != "*") continue;
    if (entry.gfp_class != GfpClass::Any && entry.gfp_class != wanted) continue;
    const int rank = (site_exact ? 2 : 0) + (entry.gfp_class != GfpClass::Any ? 1 : 0);
    if (rank > best_rank) {
      best = &entry;
      best_rank = rank;
    }
  }
  return best;
}

const FaultRule* FaultPlan::find_rule(Site site, gfp_t gfp) const {
  Entry* entry = const_cast<FaultPlan*>(this)->find_entry(site, gfp);
  return entry ? &entry->rule : nullptr;
}

bool FaultPlan::should_fail(ChoiceSource& choices, const FaultRequest& request) {
  ++stats_.requests;
  const gfp_t gfp = request.gfp;
  if (gfp & gfp::kNofail) return false;
  Entry* entry = find_entry(request.site, gfp);
  if (entry && entry->rule.ignore_gfp_wait && gfp::allows_blocking(gfp)) return false;
  ++stats_.counted;

  auto inject = [&] {
    if (entry && entry->rule.times > 0) --entry->rule.times;
    ++stats_.injected;
    return true;
  };

  if (fail_nth_ != 0) {
    if (--fail_nth_ != 0) return false;
    ++stats_.fail_nth_failures;
    return inject();
  }
  if (!entry) return false;
  const FaultRule& rule = entry->rule;
  if (rule.pressure && !gfp::allows_blocking(gfp) && !(gfp & gfp::kHigh) && request.free_pages < request.min_pages) {
    ++stats_.pressure_failures;
    ++stats_.injected;
    return true;
  }
  if (rule.probability == 0.0) return false;
  if (rule.times == 0) return false;
  if (entry->rule.space > request.bytes) {
    entry->rule.space -= request.bytes;
    return false;
  }
  if (rule.interval > 1) {
    ++entry->count;
    if (entry->count % rule.interval != 0) return false;
  }
  if (rule.probability < 1.0 && !choices.flip(ChoiceKind::AllocFail, request.site, rule.probability)) return false;
  return inject();
}

}  // namespace mmt::mem
