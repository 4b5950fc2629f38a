// core/runtime: the Open MPI settings of a singleton (a process not started by a launcher) and of
// ranks launched on one node.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sched.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dirent.h>

#include "attnpaths/core/runtime.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {
std::map<std::string, std::string> fake;
const char* fake_lookup(const char* name) {
  const auto it = fake.find(name);
  return it == fake.end() ? nullptr : it->second.c_str();
}
}  // namespace

TEST(Runtime, SingletonGetsIsolatedSelfOnlySettings) {
  fake = {{"PATH", "/usr/bin"}};
  const auto s = mpi_start_settings(fake_lookup);
  const std::map<std::string, std::string> got(s.begin(), s.end());
  EXPECT_EQ(got.size(), s.size());  // each variable once
  // An isolated singleton that talks to itself only, without device discovery.
  EXPECT_EQ(got.at("OMPI_MCA_ess_singleton_isolated"), "1");
  EXPECT_EQ(got.at("OMPI_MCA_pml"), "ob1");
  EXPECT_EQ(got.at("OMPI_MCA_btl"), "self");
  EXPECT_EQ(got.at("HWLOC_COMPONENTS"), "-linuxio,-pci");
  // hwloc's plugins that pull in libxml2/ICU, X and OpenCL, and PCI access, are never loaded.
  for (const char* plugin : {"hwloc_xml_libxml", "hwloc_opencl", "hwloc_gl", "hwloc_pci"})
    EXPECT_NE(got.at("HWLOC_PLUGINS_BLACKLIST").find(plugin), std::string::npos) << plugin;
  // Frameworks narrowed to what a lone process uses; the collectives keep the one for a single rank.
  for (const char* framework : {"shmem", "reachable", "state", "errmgr", "osc", "coll"})
    EXPECT_EQ(got.count(std::string("OMPI_MCA_") + framework), 1u) << framework;
  EXPECT_EQ(got.at("OMPI_MCA_coll").rfind("self,", 0), 0u);
  EXPECT_EQ(got.count("OMPI_MCA_schizo"), 0u);  // restricting it breaks an isolated singleton's MPI_Init
}

TEST(Runtime, UserSettingsAreNeverOverridden) {
  fake = {{"OMPI_MCA_btl", "tcp,self"}};
  const auto s = mpi_start_settings(fake_lookup);
  fake.clear();
  const std::size_t all = mpi_start_settings(fake_lookup).size();
  fake = {{"OMPI_MCA_btl", "tcp,self"}};
  EXPECT_EQ(s.size(), all - 1);
  for (const auto& [name, value] : s) EXPECT_NE(name, "OMPI_MCA_btl");
}

TEST(Runtime, LaunchedProcessesAreLeftAloneExceptOneNodeMessaging) {
  for (const char* launcher : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    fake = {{launcher, "2"}};
    EXPECT_TRUE(mpi_start_settings(fake_lookup).empty()) << launcher;
  }
  // mpirun with every rank on this node: only the shared-memory messaging layer, unless the user chose one.
  fake = {{"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}};
  EXPECT_TRUE(all_ranks_on_one_node(fake_lookup));
  using Settings = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(mpi_start_settings(fake_lookup), (Settings{{"OMPI_MCA_pml", "ob1"}, {"PMIX_MCA_gds", "hash"}}));
  fake["OMPI_MCA_pml"] = "ucx";
  EXPECT_EQ(mpi_start_settings(fake_lookup), (Settings{{"PMIX_MCA_gds", "hash"}}));
  fake["PMIX_MCA_gds"] = "ds21";
  EXPECT_TRUE(mpi_start_settings(fake_lookup).empty());
  fake = {{"OMPI_COMM_WORLD_SIZE", "64"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "32"}};  // two nodes
  EXPECT_FALSE(all_ranks_on_one_node(fake_lookup));
  EXPECT_TRUE(mpi_start_settings(fake_lookup).empty());
  // This test runs under mpirun on 2 and 4 ranks of one node: ob1 was chosen, the ranks talk, and
  // the singleton's self-only transport was not set.
  const Comm& world = test::world();
  if (world.size() > 1) {
    const char* pml = std::getenv("OMPI_MCA_pml");
    ASSERT_NE(pml, nullptr);
    EXPECT_EQ(std::string(pml), "ob1");
    const char* btl = std::getenv("OMPI_MCA_btl");
    EXPECT_TRUE(btl == nullptr || std::string(btl) != "self");
    const char* gds = std::getenv("PMIX_MCA_gds");
    ASSERT_NE(gds, nullptr);
    EXPECT_EQ(std::string(gds), "hash");
    EXPECT_EQ(world.sum(1.0), static_cast<double>(world.size()));
  }
}

TEST(Runtime, ThreadPolicyIsOpenBlasOnlyWhenTheUserSetNothing) {
  fake = {{"PATH", "/usr/bin"}};
  using Policy = std::vector<std::pair<std::string, int>>;
  EXPECT_EQ(blas_thread_policy(fake_lookup, 2, 1), (Policy{{"OMP_NUM_THREADS", 1}, {"OPENBLAS_NUM_THREADS", 2}}));
  EXPECT_EQ(blas_thread_policy(fake_lookup, 32, 4), (Policy{{"OMP_NUM_THREADS", 1}, {"OPENBLAS_NUM_THREADS", 8}}));
  EXPECT_EQ(blas_thread_policy(fake_lookup, 2, 4), (Policy{{"OMP_NUM_THREADS", 1}, {"OPENBLAS_NUM_THREADS", 1}}));
  for (const char* user : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}) {
    fake = {{user, "3"}};
    EXPECT_TRUE(blas_thread_policy(fake_lookup, 2, 1).empty()) << user;
  }
}

TEST(Runtime, RankCoresAreTheBoundCoresOrAShareOfTheNode) {
  // Bound to fewer cores than the machine has (mpirun binds ranks to one core each here): those cores;
  // else the machine's cores over the ranks on this node (every test rank runs on this node).
  const Comm& world = test::world();
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  const int bound = CPU_COUNT(&set), all = static_cast<int>(std::thread::hardware_concurrency());
  const int expected = bound < all ? bound : std::max(1, all / world.size());
  EXPECT_EQ(rank_cores(world), expected);
}

namespace {
int nodelay(int fd) {
  int v = -1;
  socklen_t len = sizeof v;
  return ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 ? v : -1;
}

// The TCP sockets of this process (the PMIx connection to mpirun when launched by it).
std::vector<int> tcp_sockets() {
  std::vector<int> out;
  DIR* dir = ::opendir("/proc/self/fd");
  for (const dirent* e = ::readdir(dir); e != nullptr; e = ::readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    int type = 0, protocol = 0;
    socklen_t len = sizeof type;
    if (e->d_name[0] == '.' || fd == ::dirfd(dir) || ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) continue;
    len = sizeof protocol;
    if (type == SOCK_STREAM && ::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 && protocol == IPPROTO_TCP)
      out.push_back(fd);
  }
  ::closedir(dir);
  return out;
}
}  // namespace

TEST(Runtime, TcpSocketsLoseNagleOnlyThem) {
  // A connected pair on the loopback (and its listener) start with Nagle's algorithm on.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof at;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&at), &len), 0);
  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  const int server = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(server, 0);
  int unix_pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, unix_pair), 0);
  EXPECT_EQ(nodelay(client), 0);
  EXPECT_EQ(nodelay(server), 0);
  const std::size_t tcp = tcp_sockets().size();
  EXPECT_EQ(disable_nagle_on_tcp_sockets(), static_cast<int>(tcp));  // the Unix pair is not counted
  EXPECT_GE(tcp, 3u);
  EXPECT_EQ(nodelay(client), 1);
  EXPECT_EQ(nodelay(server), 1);
  for (int fd : {listener, client, server, unix_pair[0], unix_pair[1]}) ::close(fd);
}

TEST(Runtime, LaunchedRanksTalkToTheLauncherWithoutNagle) {
  // Under mpirun the PMIx client's TCP connection exists from MPI_Init on, and Runtime::start
  // disabled Nagle on it (a singleton has no such connection).
  if (!started_by_launcher([](const char* n) -> const char* { return std::getenv(n); })) GTEST_SKIP();
  const std::vector<int> tcp = tcp_sockets();
  EXPECT_FALSE(tcp.empty());
  for (int fd : tcp) EXPECT_EQ(nodelay(fd), 1) << "socket " << fd;
}
