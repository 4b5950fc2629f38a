// core/runtime: the Open MPI settings of a singleton (a process not started by a launcher) and of
// ranks launched on one node.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

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
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].first, "OMPI_MCA_ess_singleton_isolated");
  EXPECT_EQ(s[1], std::make_pair(std::string("OMPI_MCA_pml"), std::string("ob1")));
  EXPECT_EQ(s[2], std::make_pair(std::string("OMPI_MCA_btl"), std::string("self")));
  EXPECT_EQ(s[3], std::make_pair(std::string("HWLOC_COMPONENTS"), std::string("-linuxio,-pci")));
}

TEST(Runtime, UserSettingsAreNeverOverridden) {
  fake = {{"OMPI_MCA_btl", "tcp,self"}};
  const auto s = mpi_start_settings(fake_lookup);
  ASSERT_EQ(s.size(), 3u);
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
  EXPECT_EQ(mpi_start_settings(fake_lookup), (Settings{{"OMPI_MCA_pml", "ob1"}}));
  fake["OMPI_MCA_pml"] = "ucx";
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
