// The mmtorture command line: `mmtorture run ...`. Exit codes are part of the
// interface: 0 clean, 1 failures found, 2 bad input.
#pragma once

namespace mmt::cli {

int main(int argc, char** argv);

}  // namespace mmt::cli
