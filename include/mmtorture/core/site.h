// Site: a named place in the simulation where a choice is drawn, a thread may be
// preempted or an allocation is made. Sites are labels: they make recorded choices
// readable, let a replay notice that the code drifted, and key the fault plan.
#pragma once

#include <cstring>
#include <string_view>

namespace mmt {

// A Site is a pointer to a string with static lifetime; two sites are the same when
// their names are equal (not when the pointers are), so a site read back from a
// repro file compares equal to the one compiled into the binary.
struct Site {
  const char* name = "unknown";

  constexpr Site() = default;
  constexpr explicit Site(const char* site_name) : name(site_name) {}

  std::string_view view() const { return name; }
  friend bool operator==(Site a, Site b) {
    return a.name == b.name || std::strcmp(a.name, b.name) == 0;
  }
};

}  // namespace mmt
