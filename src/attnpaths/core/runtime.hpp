// One RAII runtime for MPI and PETSc: initialises MPI, then PETSc; finalises in reverse.
// Every PETSc object must be destroyed before the Runtime goes out of scope.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "attnpaths/core/comm.hpp"

namespace attnpaths {

class Runtime {
 public:
  // Splits the command line: PETSc options (one dash and a multi-letter name, e.g. `-log_view`,
  // `-mat_scalapack_block_sizes 128,128`) go to PetscInitialize; everything else is returned by
  // app_args() for the command-line parser. PETSc options therefore go after the subcommand's own.
  Runtime(int argc, char** argv);
  // Only splits the command line: MPI and PETSc start with start(), so that `--help`, `--version`
  // and command-line errors are answered without them.
  struct Deferred {};
  Runtime(int argc, char** argv, Deferred);
  // Initialises MPI, then PETSc (once; world() is valid afterwards).
  void start();
  bool started() const { return started_; }
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const Comm& world() const { return world_; }
  const std::vector<std::string>& app_args() const { return app_args_; }

  // True for a token that the splitter hands to PETSc.
  static bool is_petsc_option(const std::string& token);

 private:
  std::vector<std::string> app_args_, petsc_args_;
  std::vector<std::string> petsc_argv_storage_;
  std::vector<char*> petsc_argv_;
  Comm world_;
  bool started_ = false;
};

// Wall seconds that Runtime::start took in this process: MPI_Init and the PETSc/SLEPc initialisation
// (0 before it). Recorded in /provenance (mpi_start_seconds) for the benchmarks' start-up accounting.
double mpi_start_seconds();

// Open MPI settings applied before MPI_Init (docs/benchmarks.md, "Start-up"); variables the user set
// are left alone (not returned). `lookup` is getenv or a stand-in (tests).
// - A process NOT started by a launcher (a singleton: none of OMPI_COMM_WORLD_SIZE, PMIX_RANK,
//   PMI_RANK, PMI_SIZE set): an isolated singleton (no runtime daemon) with only the self transport,
//   which starts in ~0.04 s instead of ~0.4 s, and without hwloc's discovery of PCI and I/O devices
//   (only a launched job chooses network devices by locality: ~0.013 s less here) or the hwloc
//   plugins that only such discovery, GPUs or XML topologies use (not loaded: ~0.01 s less; the XML
//   plugin alone pulls in libxml2 and ICU), and of six Open MPI frameworks only the component a lone
//   process uses (24 plugins fewer to load: ~0.005 s).
// - Ranks started by Open MPI's mpirun all on one node (OMPI_COMM_WORLD_LOCAL_SIZE equal to
//   OMPI_COMM_WORLD_SIZE): the ob1 messaging layer, which talks through shared memory; the default
//   selection also initialises the cm layer's network libraries, ~0.2 s of every start-up and exit here;
//   and PMIx's plain ("hash") store of the job's data: with its default shared-memory store, mpirun
//   fills a 4 MB segment for each rank as it connects (~0.03 s of MPI_Init here), a saving that only
//   jobs of many ranks per node recoup.
std::vector<std::pair<std::string, std::string>> mpi_start_settings(const char* (*lookup)(const char*));
// Sets TCP_NODELAY on every TCP socket this process has open; returns how many. Called after MPI_Init
// under a launcher: the PMIx client's connection to Open MPI's mpirun is TCP without it, so each
// small request that follows an unanswered one waits for the delayed acknowledgement (~0.04 s; MPI_Finalize
// makes such a pair). Other TCP sockets (Open MPI's own) already have it or only lose the batching of
// small writes.
int disable_nagle_on_tcp_sockets();
// True when every rank of an mpirun-launched job runs on this node (see mpi_start_settings).
bool all_ranks_on_one_node(const char* (*lookup)(const char*));
// True when a launcher (mpirun, srun) started the process: one of the variables above is set.
bool started_by_launcher(const char* (*lookup)(const char*));

// The theory's threading default (docs/benchmarks.md, "Threads"): one threading layer, OpenBLAS's.
// Its stages are BLAS/LAPACK calls (the attention's X·W products, the kernel's SYRK and Cholesky);
// OpenMP and OpenBLAS workers both at full width spin against each other. When the user set neither
// OMP_NUM_THREADS nor OPENBLAS_NUM_THREADS: OpenMP regions on 1 thread, OpenBLAS on
// max(1, cores / ranks sharing them) threads (the cores this process may run on; a rank bound to a
// subset of the node's cores shares them with nobody). Returns the thread counts {omp, openblas} to apply, or
// nothing. `lookup` is getenv or a stand-in (tests).
std::vector<std::pair<std::string, int>> blas_thread_policy(const char* (*lookup)(const char*), int cores,
                                                            int ranks_on_node);
// Applies blas_thread_policy in this process (collective over `world`: counts the ranks per node)
// and sets the two variables to what was applied, so that /provenance records it.
void apply_blas_thread_policy(const Comm& world);

// The cores this rank has to itself (collective over `world`, ≥ 1): those it is bound to when that is
// fewer than the node has, else the node's shared among its ranks. The measure of blas_thread_policy.
int rank_cores(const Comm& world);

// The BLAS's own thread count: OpenBLAS's, looked up at run time (1 for another BLAS).
int blas_threads();

// For its lifetime the BLAS runs on its caller's thread only, then gets its former thread count back:
// for a parallel loop whose threads each call the BLAS (core/parallel.hpp: one threading layer for
// the stage; OpenBLAS workers would otherwise be woken by every thread of the loop).
class SerialBlas {
 public:
  SerialBlas();
  ~SerialBlas();
  SerialBlas(const SerialBlas&) = delete;
  SerialBlas& operator=(const SerialBlas&) = delete;

 private:
  int saved_;
};

// Prints "[rank r] error: <message>" on stderr and aborts every rank with `code` (never hangs).
[[noreturn]] void abort_all(const std::string& message, int code);

}  // namespace attnpaths
