// A job's coverage, added up (jobs/coverage.h).
#include "mmtorture/jobs/coverage.h"

namespace mmt::jobs {

void Coverage::add(const Coverage& other) {
  for (const auto& [key, count] : other.sites) {
    SiteCount& mine = sites[key];
    mine.requests += count.requests;
    mine.injected += count.injected;
  }
  for (const auto& [op, by_outcome] : other.outcomes)
    for (const auto& [outcome, times] : by_outcome) outcomes[op][outcome] += times;
}

}  // namespace mmt::jobs
