// The oracle a maple tree is checked against: non-overlapping ranges in a std::map,
// keyed by first index, each holding a value (Value{} is "no entry"). Adjacent ranges
// stay apart even with equal values, as the tree keeps them. The maple job (every
// backend), the differential test and the readers' windows all read this one model,
// so "what the tree should hold" and "which gap the kernel's rule picks" are written
// once.
#pragma once

#include <climits>
#include <iterator>
#include <map>
#include <optional>

namespace mmt::maple {

template <class Value>
class IntervalModel {
 public:
  struct Interval {
    unsigned long last;
    Value value;
  };
  struct Range {
    unsigned long index, last;
    Value value;
  };
  using Map = std::map<unsigned long, Interval>;

  // [index, last] = value, cutting what it overlaps; Value{} erases the range.
  void store(unsigned long index, unsigned long last, Value value) {
    auto it = map_.upper_bound(index);
    if (it != map_.begin()) {
      auto prev = std::prev(it);
      if (prev->second.last >= index) {
        const Interval old = prev->second;
        const unsigned long old_start = prev->first;
        map_.erase(prev);
        if (old_start < index) map_[old_start] = {index - 1, old.value};
        if (old.last > last) map_[last + 1] = {old.last, old.value};
      }
    }
    it = map_.lower_bound(index);
    while (it != map_.end() && it->first <= last) {
      const Interval old = it->second;
      it = map_.erase(it);
      if (old.last > last) {
        map_[last + 1] = {old.last, old.value};
        break;
      }
    }
    if (value != Value{}) map_[index] = {last, value};
  }

  // The interval covering index (its first index in *start), or nullptr.
  const Interval* find(unsigned long index, unsigned long* start) const {
    auto it = map_.upper_bound(index);
    if (it == map_.begin()) return nullptr;
    --it;
    if (it->second.last < index) return nullptr;
    *start = it->first;
    return &it->second;
  }

  // The value at index (Value{} in a gap).
  Value value_at(unsigned long index) const {
    unsigned long start;
    const Interval* e = find(index, &start);
    return e ? e->value : Value{};
  }

  // The range holding index, if any.
  std::optional<Range> at(unsigned long index) const {
    unsigned long start;
    if (const Interval* e = find(index, &start)) return Range{start, e->last, e->value};
    return std::nullopt;
  }

  // What mas_walk reports: the range holding index, or the whole empty range around it
  // (the tree keeps a maximal empty range in one slot).
  Range slot(unsigned long index) const {
    if (auto r = at(index)) return *r;
    auto next = map_.lower_bound(index);
    const unsigned long last = next == map_.end() ? ULONG_MAX : next->first - 1;
    const unsigned long first = next == map_.begin() ? 0 : std::prev(next)->second.last + 1;
    return Range{first, last, Value{}};
  }

  // No range overlaps [index, last] (mtree_insert_range succeeds).
  bool range_empty(unsigned long index, unsigned long last) const {
    auto it = map_.upper_bound(last);
    return it == map_.begin() || std::prev(it)->second.last < index;
  }

  // The first range starting after `after` (and at most max).
  std::optional<Range> next_after(unsigned long after, unsigned long max) const {
    if (after == ULONG_MAX) return std::nullopt;
    auto it = map_.upper_bound(after);
    if (it == map_.end() || it->first > max) return std::nullopt;
    return Range{it->first, it->second.last, it->second.value};
  }

  // The last range ending before `before` (and at least min).
  std::optional<Range> prev_before(unsigned long before, unsigned long min) const {
    if (before == 0) return std::nullopt;
    auto it = map_.upper_bound(before - 1);
    if (it == map_.begin()) return std::nullopt;
    --it;
    if (it->second.last >= before) {
      if (it == map_.begin()) return std::nullopt;
      --it;
    }
    if (it->second.last < min) return std::nullopt;
    return Range{it->first, it->second.last, it->second.value};
  }

  // The gap the kernel's rule picks for mas_empty_area (lowest) or mas_empty_area_rev
  // (highest): the first empty range, walking up from min (down from max), whose part
  // inside [min, max] holds `size` indices; forward answers start where that part
  // starts, reverse ones end where it ends. False when no such range exists (-EBUSY).
  // The tree keeps every maximal empty range in one leaf slot (no two NULLs side by
  // side, no leaf but the last ending in NULL: mt_validate), so "empty range" here and
  // "NULL slot" there are the same thing.
  bool empty_area(unsigned long min, unsigned long max, unsigned long size, bool reverse, unsigned long* index) const {
    return reverse ? empty_area_rev(min, max, size, index) : empty_area_fwd(min, max, size, index);
  }

  const Map& map() const { return map_; }
  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

 private:
  bool empty_area_fwd(unsigned long min, unsigned long max, unsigned long size, unsigned long* index) const {
    unsigned long start;
    unsigned long cursor = min;
    for (;;) {
      if (const Interval* e = find(cursor, &start)) {  // cursor is in use: skip the entry
        if (e->last >= max) return false;
        cursor = e->last + 1;
        continue;
      }
      auto next = map_.lower_bound(cursor);
      const unsigned long gap_end = next == map_.end() ? ULONG_MAX : next->first - 1;
      const unsigned long hi = gap_end < max ? gap_end : max;
      if (hi - cursor >= size - 1) {
        *index = cursor;
        return true;
      }
      if (next == map_.end() || next->second.last >= max) return false;
      cursor = next->second.last + 1;
    }
  }

  bool empty_area_rev(unsigned long min, unsigned long max, unsigned long size, unsigned long* index) const {
    unsigned long start;
    unsigned long cursor = max;
    for (;;) {
      if (find(cursor, &start)) {
        if (start <= min) return false;
        cursor = start - 1;
        continue;
      }
      auto after = map_.upper_bound(cursor);
      const bool has_prev = after != map_.begin();
      const unsigned long gap_start = has_prev ? std::prev(after)->second.last + 1 : 0;
      const unsigned long lo = gap_start > min ? gap_start : min;
      if (cursor - lo >= size - 1) {
        *index = cursor - size + 1;
        return true;
      }
      if (!has_prev || std::prev(after)->first <= min) return false;
      cursor = std::prev(after)->first - 1;
    }
  }

  Map map_;
};

}  // namespace mmt::maple
