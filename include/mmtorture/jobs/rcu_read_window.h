// What a lock-free reader may see (the maple job's RCU readers, maple_stress.h).
//
// A reader that looks up [first, last] while a writer changes the tree may return, at
// each index, what the model held there when the read began or anything a write during
// the read stored over that index: RCU promises each slot is seen before or after a
// concurrent store, never anything else. ReadWindows keeps, per reader, the spans it
// may see: the model's contents over its range when it opened (gaps as value 0), the
// write in flight then, and every write announced while it stays open.
#pragma once

#include <cstdint>
#include <iterator>
#include <vector>

namespace mmt::jobs {

struct Span {
  unsigned long first, last, value;  // value 0: no entry
};

// The model's contents over [first, last], gaps as value-0 spans. Model maps a start
// to an entry with .last and .value (the maple job's interval model).
template <class Model>
std::vector<Span> spans_over(const Model& model, unsigned long first, unsigned long last) {
  std::vector<Span> out;
  unsigned long at = first;  // the lowest index not yet described
  auto it = model.upper_bound(first);
  if (it != model.begin() && std::prev(it)->second.last >= first) --it;
  for (; it != model.end() && it->first <= last; ++it) {
    if (it->first > at) out.push_back({at, it->first - 1, 0});
    out.push_back({it->first, it->second.last, it->second.value});
    if (it->second.last >= last) return out;
    at = it->second.last + 1;
  }
  out.push_back({at, last, 0});
  return out;
}

class ReadWindows {
 public:
  explicit ReadWindows(unsigned readers) : windows_(readers) {}

  // The writer, before an operation that may store `value` over [first, last] (0: erase).
  void announce(unsigned long first, unsigned long last, unsigned long value);
  // The writer, once that operation is done and the model updated.
  void write_done() { in_flight_.clear(); }
  // A reader begins a read of [first, last]; `held` is the model over it (spans_over).
  void open(unsigned reader, unsigned long first, unsigned long last, std::vector<Span> held);
  // True when `value` was at `index` at some point of the reader's read; ends the read.
  bool close(unsigned reader, unsigned long index, unsigned long value);

 private:
  struct Window {
    bool open = false;
    unsigned long first = 0, last = 0;
    std::vector<Span> seen;
  };
  std::vector<Window> windows_;
  std::vector<Span> in_flight_;
};

}  // namespace mmt::jobs
