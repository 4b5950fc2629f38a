// Shared helpers for attnpaths tests.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/rng.hpp"

namespace attnpaths::rng_domain {
// Random streams of the tests and benchmarks (core/rng.hpp).
inline constexpr RngDomain test{99};
}  // namespace attnpaths::rng_domain

namespace attnpaths::test {

void set_world(const Comm* world);
// The world communicator of the test binary (all ranks of the mpirun).
const Comm& world();

// A fresh scratch directory for one test (under the build tree's Testing/tmp), created on rank 0
// and shared by every rank.
std::string scratch_dir(const std::string& name);

// Path of the attnpaths command built alongside the tests.
std::string attnpaths_binary();

// "env -u … " prefix for a child command started from a test that itself runs under mpirun: drops
// this job's Open MPI/PMIx identity (so a child mpirun or singleton does not try to join it) and
// keeps the run-as-root/oversubscription settings, one BLAS/OpenMP thread.
std::string child_env();

// Runs the attnpaths command with `args` (under `mpirun -n ranks` when ranks > 1, after child_env() and
// `prefix`, e.g. "timeout ..."); returns its exit code, output in *output; prints the command line and
// output when the code is neither 0 nor 75.
int run_attnpaths(int ranks, const std::string& args, std::string* output = nullptr, const std::string& prefix = "");

// Runs a shell command, returns its exit code; stdout+stderr go into *output when given.
int run_command(const std::string& command, std::string* output = nullptr);

}  // namespace attnpaths::test
