#include "attnpaths/core/runtime.hpp"

#include <petscsys.h>
#include <slepcsys.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>

#include <dirent.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <omp.h>
#include <sched.h>
#include <sys/socket.h>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"

namespace attnpaths {

bool Runtime::is_petsc_option(const std::string& t) {
  return t.size() > 2 && t[0] == '-' && std::isalpha(static_cast<unsigned char>(t[1])) != 0;
}

Runtime::Runtime(int argc, char** argv) : Runtime(argc, argv, Deferred{}) { start(); }

Runtime::Runtime(int argc, char** argv, Deferred) {
  app_args_.emplace_back(argc > 0 ? argv[0] : "attnpaths");
  for (int i = 1; i < argc; ++i) {
    std::string t = argv[i];
    if (is_petsc_option(t)) {
      petsc_args_.push_back(t);
      if (i + 1 < argc && argv[i + 1][0] != '-') petsc_args_.emplace_back(argv[++i]);
    } else {
      app_args_.push_back(t);
    }
  }
}

bool started_by_launcher(const char* (*lookup)(const char*)) {
  for (const char* launched : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (lookup(launched) != nullptr) return true;
  return false;
}

bool all_ranks_on_one_node(const char* (*lookup)(const char*)) {
  const char* world = lookup("OMPI_COMM_WORLD_SIZE");
  const char* local = lookup("OMPI_COMM_WORLD_LOCAL_SIZE");
  return world != nullptr && local != nullptr && std::string(world) == local;
}

std::vector<std::pair<std::string, std::string>> mpi_start_settings(const char* (*lookup)(const char*)) {
  std::vector<std::pair<std::string, std::string>> wanted;
  if (!started_by_launcher(lookup))
    wanted = {{"OMPI_MCA_ess_singleton_isolated", "1"},
              {"OMPI_MCA_pml", "ob1"},
              {"OMPI_MCA_btl", "self"},
              {"HWLOC_COMPONENTS", "-linuxio,-pci"},
              {"HWLOC_PLUGINS_BLACKLIST", "hwloc_xml_libxml,hwloc_opencl,hwloc_gl,hwloc_pci"},
              // of each framework only the component a lone process uses (fewer plugins to load)
              {"OMPI_MCA_shmem", "mmap"},
              {"OMPI_MCA_reachable", "weighted"},
              {"OMPI_MCA_state", "app"},
              {"OMPI_MCA_errmgr", "default_app"},
              {"OMPI_MCA_coll", "self,basic,libnbc"},
              {"OMPI_MCA_osc", "sm"}};
  else if (all_ranks_on_one_node(lookup))
    wanted = {{"OMPI_MCA_pml", "ob1"}, {"PMIX_MCA_gds", "hash"}};
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : wanted)
    if (lookup(name.c_str()) == nullptr) out.emplace_back(name, value);
  return out;
}

namespace {
const char* environment(const char* name) { return std::getenv(name); }
}  // namespace

std::vector<std::pair<std::string, int>> blas_thread_policy(const char* (*lookup)(const char*), int cores,
                                                            int ranks_on_node) {
  if (lookup("OMP_NUM_THREADS") != nullptr || lookup("OPENBLAS_NUM_THREADS") != nullptr) return {};
  return {{"OMP_NUM_THREADS", 1}, {"OPENBLAS_NUM_THREADS", std::max(1, cores / std::max(1, ranks_on_node))}};
}

namespace {
using SetThreads = void (*)(int);
using GetThreads = int (*)();
SetThreads openblas_set_threads() {
  return reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
}
}  // namespace

int blas_threads() {
  const auto get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get != nullptr ? std::max(1, get()) : 1;
}

SerialBlas::SerialBlas() : saved_(blas_threads()) {
  if (auto* set = openblas_set_threads(); set != nullptr && saved_ > 1) set(1);
}

SerialBlas::~SerialBlas() {
  if (auto* set = openblas_set_threads(); set != nullptr && saved_ > 1) set(saved_);
}

namespace {
// The cores this process may run on, and how many ranks share them (collective: counts the ranks per node).
std::pair<int, int> cores_and_sharing(const Comm& world) {
  MPI_Comm node = MPI_COMM_NULL;
  MPI_CALL(MPI_Comm_split_type(world.get(), MPI_COMM_TYPE_SHARED, world.rank(), MPI_INFO_NULL, &node));
  int local = 1;
  MPI_Comm_size(node, &local);
  MPI_Comm_free(&node);
  cpu_set_t set;
  CPU_ZERO(&set);
  const int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  // A rank bound to fewer cores than the node has (mpirun's binding, srun --cpus-per-task) owns them.
  const int sharing = cores < static_cast<int>(std::thread::hardware_concurrency()) ? 1 : local;
  return {cores, sharing};
}
}  // namespace

int rank_cores(const Comm& world) {
  const auto [cores, sharing] = cores_and_sharing(world);
  return std::max(1, cores / std::max(1, sharing));
}

void apply_blas_thread_policy(const Comm& world) {
  const auto [cores, sharing] = cores_and_sharing(world);
  for (const auto& [name, n] : blas_thread_policy(environment, cores, sharing)) {
    if (name == "OMP_NUM_THREADS") omp_set_num_threads(n);
    // OpenBLAS read its variable when it was loaded; its setter, where the BLAS is OpenBLAS.
    if (auto* set_threads = openblas_set_threads(); set_threads != nullptr && name == "OPENBLAS_NUM_THREADS")
      set_threads(n);
    ::setenv(name.c_str(), std::to_string(n).c_str(), 1);
  }
}

int disable_nagle_on_tcp_sockets() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  int changed = 0;
  for (const dirent* e = ::readdir(dir); e != nullptr; e = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == ::dirfd(dir)) continue;
    int type = 0, protocol = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
    len = sizeof protocol;
    if (::getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_PROTOCOL, &protocol, &len) != 0 || protocol != IPPROTO_TCP)
      continue;
    const int one = 1;
    if (::setsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) ++changed;
  }
  ::closedir(dir);
  return changed;
}

namespace {
// A singleton's private Open MPI session directory (empty: none), removed at the end however the
// process ends (~Runtime, abort_all).
std::string private_session_dir;

// Isolated singletons all use the same session directory (<tmp>/ompi.<host>.<uid>/jf.0/1): one that
// finishes removes it under another that is still running, whose next MPI-IO open then fails (its
// shared-file-pointer component keeps a file there). Each singleton gets its own base directory,
// under $TMPDIR (or /tmp), unless the user chose one; without it the default stays.
void use_private_session_dir() {
  if (started_by_launcher(environment) || environment("OMPI_MCA_orte_tmpdir_base") != nullptr) return;
  const char* tmp = environment("TMPDIR");
  std::string dir = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/attnpaths-mpi-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) return;
  private_session_dir = dir;
  ::setenv("OMPI_MCA_orte_tmpdir_base", dir.c_str(), 1);
}

void remove_private_session_dir() {
  if (private_session_dir.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(private_session_dir, ignored);
  private_session_dir.clear();
}

double start_seconds = 0;  // Runtime::start's wall time (mpi_start_seconds)
}  // namespace

double mpi_start_seconds() { return start_seconds; }

void Runtime::start() {
  if (started_) return;
  const double t0 = wall_seconds();
  for (const auto& [name, value] : mpi_start_settings(environment)) ::setenv(name.c_str(), value.c_str(), 0);
  use_private_session_dir();
  int provided = 0;
  // SERIALIZED: the theory reads its next block of examples on a thread of its own while the main
  // thread computes (theory/stream_inputs.cpp); with less it reads them in turn.
  MPI_CALL(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided));
  started_ = true;
  // The launcher's PMIx connection (MPI_Finalize's handshake with mpirun) waits out TCP's delayed
  // acknowledgement otherwise: 0.05 s instead of 0.013 s per MPI_Finalize here.
  if (started_by_launcher(environment)) disable_nagle_on_tcp_sockets();
  // Our own SIGTERM/SIGUSR1 handling (checkpointing) must not be pre-empted by PETSc's handler.
  petsc_argv_storage_.push_back(app_args_[0]);
  petsc_argv_storage_.emplace_back("-no_signal_handler");
  for (auto& a : petsc_args_) petsc_argv_storage_.push_back(a);
  for (auto& s : petsc_argv_storage_) petsc_argv_.push_back(s.data());
  petsc_argv_.push_back(nullptr);
  int pargc = static_cast<int>(petsc_argv_storage_.size());
  char** pargv = petsc_argv_.data();
  PETSC_CALL(SlepcInitialize(&pargc, &pargv, nullptr, nullptr));  // initialises PETSc too
  // PETSc errors come back as codes and are turned into exceptions by PETSC_CALL.
  PETSC_CALL(PetscPushErrorHandler(PetscReturnErrorHandler, nullptr));
  world_ = Comm::view(PETSC_COMM_WORLD);
  start_seconds = wall_seconds() - t0;
}

Runtime::~Runtime() {
  if (!started_) return;
  world_ = Comm();
  PetscPopErrorHandler();
  SlepcFinalize();  // finalises PETSc too
  MPI_Finalize();
  remove_private_session_dir();
}

void abort_all(const std::string& message, int code) {
  int initialized = 0, finalized = 0, rank = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "[rank %d] error: %s\n", rank, message.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  if (initialized && !finalized) {
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, code);
    // A single rank exits with its own code (MPI_Abort's code is not always propagated).
  }
  remove_private_session_dir();  // a singleton's (never under a launcher, where MPI_Abort ends us)
  std::_Exit(code);
}

}  // namespace attnpaths
