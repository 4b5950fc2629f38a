// GoogleTest main for every attnpaths test binary: brings up the Runtime (MPI + PETSc), lets only
// rank 0 print the usual report, prints failures of other ranks with their rank number, and
// combines the results so that every rank exits non-zero if any rank failed (LAMMPS-style).
#include <gtest/gtest.h>

#include <cstdio>

#include "attnpaths/core/runtime.hpp"
#include "test_support.hpp"

namespace {
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "[rank %d] FAILED %s:%d\n%s\n", rank_, r.file_name() ? r.file_name() : "?", r.line_number(),
                   r.summary());
  }

 private:
  int rank_;
};
}  // namespace

int main(int argc, char** argv) {
  int rc = 0;
  {
    attnpaths::Runtime runtime(argc, argv);
    attnpaths::test::set_world(&runtime.world());
    std::vector<std::string> args = runtime.app_args();
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    int gargc = static_cast<int>(cargs.size());
    ::testing::InitGoogleTest(&gargc, cargs.data());
    const int rank = runtime.world().rank();
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    if (rank != 0) {
      delete listeners.Release(listeners.default_result_printer());
      listeners.Append(new RankFailurePrinter(rank));
    }
    int local = RUN_ALL_TESTS();
    rc = runtime.world().any(local != 0) ? 1 : 0;
    attnpaths::test::set_world(nullptr);
  }
  return rc;
}
