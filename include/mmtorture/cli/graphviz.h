// Graphviz's `dot` as replay --dump-tree=svg uses it: found on PATH before the replay
// runs (a missing dot is bad input: one line, exit 2, nothing replayed), then run on
// the trees' Graphviz text to write SVG.
#pragma once

#include <string>

namespace mmt::cli {

// The path of the `dot` executable on PATH; "" when there is none.
std::string find_graphviz_dot();

// Renders Graphviz text as SVG into `out`: dot writes a temporary file beside it, which
// is renamed once dot succeeded (no half-written picture). Throws campaign::IoError
// with dot's exit status and first message when dot fails.
void render_dot_svg(const std::string& dot_executable, const std::string& dot_text, const std::string& out);

}  // namespace mmt::cli
