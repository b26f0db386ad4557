// What a lock-free reader may see (rcu_read_window.h).
#include "mmtorture/jobs/rcu_read_window.h"

#include <utility>

namespace mmt::jobs {

void ReadWindows::announce(unsigned long first, unsigned long last, unsigned long value) {
  const Span span{first, last, value};
  in_flight_.push_back(span);
  for (Window& w : windows_)
    if (w.open && first <= w.last && last >= w.first) w.seen.push_back(span);
}

void ReadWindows::open(unsigned reader, unsigned long first, unsigned long last, std::vector<Span> held) {
  Window& w = windows_.at(reader);
  w.open = true;
  w.first = first;
  w.last = last;
  w.seen = std::move(held);
  // A write that began before this read and is still running may land during it.
  for (const Span& span : in_flight_)
    if (span.first <= last && span.last >= first) w.seen.push_back(span);
}

bool ReadWindows::close(unsigned reader, unsigned long index, unsigned long value) {
  Window& w = windows_.at(reader);
  w.open = false;
  for (const Span& span : w.seen)
    if (span.first <= index && index <= span.last && span.value == value) return true;
  return false;
}

}  // namespace mmt::jobs
