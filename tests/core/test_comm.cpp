#include <gtest/gtest.h>

#include <algorithm>

#include "attnpaths/core/comm.hpp"
#include "test_support.hpp"

using namespace attnpaths;

TEST(BlockRange, CoversEverythingOnce) {
  for (int parts : {1, 2, 3, 4, 7}) {
    for (std::int64_t n : {0, 1, 5, 100, 101}) {
      std::int64_t next = 0;
      for (int p = 0; p < parts; ++p) {
        Range r = block_range(n, p, parts);
        EXPECT_EQ(r.begin, next);
        const std::int64_t block = (n + parts - 1) / parts;
        EXPECT_EQ(r.size(), std::min(block, std::max<std::int64_t>(0, n - p * block)));
        next = r.end;
      }
      EXPECT_EQ(next, n);
    }
  }
}

TEST(Comm, SumAndGather) {
  const Comm& w = test::world();
  EXPECT_DOUBLE_EQ(w.sum(1.0), static_cast<double>(w.size()));
  std::vector<double> local(static_cast<size_t>(w.rank() + 1), static_cast<double>(w.rank()));
  auto all = w.allgather_blocks(local);
  EXPECT_EQ(static_cast<int>(all.size()), w.size() * (w.size() + 1) / 2);
  EXPECT_TRUE(w.any(w.rank() == w.size() - 1));
  EXPECT_FALSE(w.any(false));
}
