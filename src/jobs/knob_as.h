// A knob's value as the narrower type a job's options store it in (the jobs' option
// functions: world_options, maple_options, cma_options). Private to src/jobs.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <stdexcept>

namespace mmt::jobs {

// The knob table's ranges are chosen so that every value fits (a test sets each knob
// to its maximum); a value that does not fit is our bug, never the user's, and is not
// cut silently.
template <class Narrow>
Narrow knob_as(uint64_t value, const char* knob) {
  if (value > std::numeric_limits<Narrow>::max())
    throw std::logic_error(fmt::format("{} = {} does not fit its storage (max {}): the knob table's range is wrong",
                                       knob, value, std::numeric_limits<Narrow>::max()));
  return static_cast<Narrow>(value);
}

}  // namespace mmt::jobs
