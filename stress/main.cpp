// The mmtorture program: everything is in the cli module so tests can drive it too.
#include "mmtorture/cli/cli.h"

int main(int argc, char** argv) { return mmt::cli::main(argc, argv); }
