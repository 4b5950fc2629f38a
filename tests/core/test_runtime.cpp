// core/runtime: the Open MPI settings of a singleton (a process not started by a launcher).
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>

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
  const auto s = singleton_mpi_settings(fake_lookup);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].first, "OMPI_MCA_ess_singleton_isolated");
  EXPECT_EQ(s[1], std::make_pair(std::string("OMPI_MCA_pml"), std::string("ob1")));
  EXPECT_EQ(s[2], std::make_pair(std::string("OMPI_MCA_btl"), std::string("self")));
  EXPECT_EQ(s[3], std::make_pair(std::string("HWLOC_COMPONENTS"), std::string("-linuxio,-pci")));
}

TEST(Runtime, UserSettingsAreNeverOverridden) {
  fake = {{"OMPI_MCA_btl", "tcp,self"}};
  const auto s = singleton_mpi_settings(fake_lookup);
  ASSERT_EQ(s.size(), 3u);
  for (const auto& [name, value] : s) EXPECT_NE(name, "OMPI_MCA_btl");
}

TEST(Runtime, LaunchedProcessesAreLeftAlone) {
  for (const char* launcher : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    fake = {{launcher, "2"}};
    EXPECT_TRUE(singleton_mpi_settings(fake_lookup).empty()) << launcher;
  }
  // This test runs under the launcher on 2 and 4 ranks: nothing was set, and the ranks talk.
  const Comm& world = test::world();
  if (world.size() > 1) {
    EXPECT_TRUE(singleton_mpi_settings([](const char* n) -> const char* { return std::getenv(n); }).empty());
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
