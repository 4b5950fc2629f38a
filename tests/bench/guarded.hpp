// The benchmarks' main (docs/benchmarks.md): MPI and PETSc up, then the benchmark; an error (a file
// that does not exist, a malformed option value) ends every rank with its message and the command's
// exit code (docs/files.md "Exit codes"), as `attnpaths` does, instead of std::terminate's abort.
#pragma once

#include "attnpaths/core/runtime.hpp"

namespace attnpaths::bench {

// body(runtime, argc, argv) inside a Runtime; its return value is the exit code. With --help or -h
// among the arguments, prints "usage: <usage>" on rank 0 instead and returns 0.
int run_guarded(int argc, char** argv, const char* usage, int (*body)(Runtime&, int, char**));

}  // namespace attnpaths::bench
