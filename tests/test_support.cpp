#include "test_support.hpp"

#include <array>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace attnpaths::test {

namespace {
const Comm* g_world = nullptr;
}

void set_world(const Comm* w) { g_world = w; }

const Comm& world() {
  if (!g_world) throw std::logic_error("test world communicator not set");
  return *g_world;
}

std::string scratch_dir(const std::string& name) {
  namespace fs = std::filesystem;
  std::string dir = std::string(ATTNPATHS_TEST_TMP) + "/" + name + "-np" + std::to_string(world().size());
  if (world().is_root()) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  world().barrier();
  return dir;
}

std::string attnpaths_binary() { return ATTNPATHS_BINARY; }

std::string child_env() {
  std::string prefix = "env";
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const std::string name = kv.substr(0, kv.find('='));
    const bool mpi = name.rfind("OMPI_", 0) == 0 || name.rfind("PMIX_", 0) == 0 || name.rfind("OPAL_", 0) == 0 ||
                     name.rfind("ORTE_", 0) == 0;
    if (mpi) prefix += " -u " + name;
  }
  return prefix + " OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
                  "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 ";
}

int run_attnpaths(int ranks, const std::string& args, std::string* output, const std::string& prefix) {
  std::string cmd = child_env() + prefix;
  if (ranks > 1) cmd += "mpirun -n " + std::to_string(ranks) + " ";
  cmd += attnpaths_binary() + " " + args;
  std::string out;
  const int rc = run_command(cmd, &out);
  if (output) *output = out;
  if (rc != 0 && rc != 75) std::printf("$ %s\n-> exit %d\n%s\n", cmd.c_str(), rc, out.c_str());
  return rc;
}

int run_command(const std::string& command, std::string* output) {
  std::string cmd = command + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  std::array<char, 4096> buf{};
  std::string out;
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  int status = pclose(pipe);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace attnpaths::test
