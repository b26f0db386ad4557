// RetryPolicy (see retry.h).
#include "mmtorture/cma/retry.h"

#include <fmt/format.h>

namespace mmt::cma {

bool RetryPolicy::may_retry(gfp_t gfp, uint64_t retries) const {
  switch (kind) {
    case RetryKind::None: return false;
    case RetryKind::Bounded: return retries < max_retries;
    case RetryKind::Forever: return true;
    case RetryKind::NofailOnly: return (gfp & gfp::kNofail) != 0;
  }
  return false;
}

std::string RetryPolicy::name() const {
  const char* sleep = killable ? "" : ",uninterruptible";
  switch (kind) {
    case RetryKind::None: return "none";
    case RetryKind::Bounded: return fmt::format("bounded({},{}ms{})", max_retries, sleep_ms, sleep);
    case RetryKind::Forever: return fmt::format("forever({}ms{})", sleep_ms, sleep);
    case RetryKind::NofailOnly: return fmt::format("nofail_only({}ms{})", sleep_ms, sleep);
  }
  return "?";
}

}  // namespace mmt::cma
