// Fault plan decisions (fault_plan.h), in the order of the kernel's should_failslab()
// and should_fail_ex(), so a knob means here what it means in the kernel's docs.
#include "mmtorture/mem/fault_plan.h"

#include <fmt/format.h>

#include <cstdlib>

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

FaultRuleSpec parse_fault_rule(std::string_view text) {
  const size_t last = text.rfind(':');
  const size_t middle =
      last == std::string_view::npos || last == 0 ? std::string_view::npos : text.rfind(':', last - 1);
  if (middle == std::string_view::npos)
    throw ConfigError("rules", fmt::format("'{}' is not SITE:CLASS:PROBABILITY", text));
  FaultRuleSpec spec;
  spec.site = std::string(text.substr(0, middle));
  const std::string_view gfp_class = text.substr(middle + 1, last - middle - 1);
  const std::string probability(text.substr(last + 1));
  if (spec.site.empty()) throw ConfigError("rules", fmt::format("'{}' names no site (\"*\" is every site)", text));
  if (gfp_class == "nowait") spec.gfp_class = GfpClass::Nowait;
  else if (gfp_class == "kernel") spec.gfp_class = GfpClass::Kernel;
  else if (gfp_class == "any") spec.gfp_class = GfpClass::Any;
  else throw ConfigError("rules", fmt::format("'{}': class must be nowait, kernel or any", text));
  char* end = nullptr;
  spec.probability = std::strtod(probability.c_str(), &end);
  if (probability.empty() || end != probability.c_str() + probability.size() ||
      !(spec.probability >= 0.0 && spec.probability <= 1.0))
    throw ConfigError("rules", fmt::format("'{}': probability must be a number in [0, 1]", text));
  return spec;
}

void FaultPlan::set_rule(std::string_view site, GfpClass gfp_class, const FaultRule& rule) {
  if (!(rule.probability >= 0.0 && rule.probability <= 1.0))  // also rejects NaN
    throw ConfigError("probability", fmt::format("must be in [0, 1], got {}", rule.probability));
  if (rule.interval == 0) throw ConfigError("interval", "must be at least 1 (1 = every request), got 0");
  if (rule.times < -1)
    throw ConfigError("times", fmt::format("must be -1 (no limit) or at least 0, got {}", rule.times));
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

FaultPlan::Entry* FaultPlan::find_entry(Site site, const char* object, gfp_t gfp) {
  const GfpClass wanted = gfp_class_of(gfp);
  // Most specific first: the exact site beats the object (cache or "pages"), which
  // beats "*"; an exact class beats Any.
  Entry* best = nullptr;
  int best_rank = -1;
  for (Entry& entry : entries_) {
    const bool site_exact = entry.site == site.view();
    const bool object_match = !site_exact && object && entry.site == object;
    if (!site_exact && !object_match && entry.site != "*") continue;
    if (entry.gfp_class != GfpClass::Any && entry.gfp_class != wanted) continue;
    const int rank = (site_exact ? 4 : object_match ? 2 : 0) + (entry.gfp_class != GfpClass::Any ? 1 : 0);
    if (rank > best_rank) {
      best = &entry;
      best_rank = rank;
    }
  }
  return best;
}

const FaultRule* FaultPlan::find_rule(Site site, gfp_t gfp, const char* object) const {
  Entry* entry = const_cast<FaultPlan*>(this)->find_entry(site, object, gfp);
  return entry ? &entry->rule : nullptr;
}

bool FaultPlan::should_fail(ChoiceSource& choices, const FaultRequest& request) {
  const bool fail = decide(choices, request);
  count_site(request.site, gfp_class_of(request.gfp), fail);
  return fail;
}

void FaultPlan::count_site(Site site, GfpClass gfp_class, bool injected) {
  SiteStats* stats = nullptr;
  for (SiteStats& s : site_stats_)  // sites are static strings: the pointer nearly always matches
    if (s.gfp_class == gfp_class && s.site.name == site.name) stats = &s;
  if (!stats)
    for (SiteStats& s : site_stats_)
      if (s.gfp_class == gfp_class && s.site == site) stats = &s;
  if (!stats) stats = &site_stats_.emplace_back(SiteStats{site, gfp_class, 0, 0});
  ++stats->requests;
  if (injected) ++stats->injected;
}

bool FaultPlan::decide(ChoiceSource& choices, const FaultRequest& request) {
  ++stats_.requests;
  const gfp_t gfp = request.gfp;
  if (gfp & gfp::kNofail) return false;
  // PAGE_ALLOC_COSTLY_ORDER: a sleeping request this small loops in a production kernel.
  constexpr size_t kCostlyBytes = size_t{4096} << 3;
  if (too_small_to_fail_ && gfp::allows_blocking(gfp) && request.bytes <= kCostlyBytes) return false;
  Entry* entry = find_entry(request.site, request.object, gfp);
  if (entry && entry->rule.ignore_gfp_wait && gfp::allows_blocking(gfp)) return false;
  ++stats_.counted;

  auto inject = [&] {
    if (entry && entry->rule.times > 0) --entry->rule.times;
    ++stats_.injected;
    stats_.injected_by_class.add(gfp);
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
    stats_.injected_by_class.add(gfp);
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
