#include <gtest/gtest.h>

#include <cmath>

#include "attnpaths/core/rng.hpp"
#include "test_support.hpp"

using namespace attnpaths;

TEST(RandomStream, DeterministicAndKeyed) {
  RandomStream a(7, rng_domain::test, 3), b(7, rng_domain::test, 3), c(7, rng_domain::test, 4), d(8, rng_domain::test, 3);
  for (int i = 0; i < 10; ++i) {
    double x = a.normal();
    EXPECT_EQ(x, b.normal());
    EXPECT_NE(x, c.normal());
    EXPECT_NE(x, d.normal());
  }
}

TEST(RandomStream, StateRoundTrip) {
  RandomStream a(1, rng_domain::test, 0);
  for (int i = 0; i < 7; ++i) a.normal();
  RandomStream b(1, rng_domain::test, 0);
  b.set_state(a.state());
  for (int i = 0; i < 9; ++i) EXPECT_EQ(a.normal(), b.normal());
}

TEST(RandomStream, NormalMoments) {
  RandomStream a(11, rng_domain::test, 0);
  const int n = 200000;
  double s = 0, s2 = 0, s4 = 0;
  for (int i = 0; i < n; ++i) {
    double x = a.normal();
    s += x;
    s2 += x * x;
    s4 += x * x * x * x;
  }
  EXPECT_NEAR(s / n, 0.0, 5.0 / std::sqrt(n));
  EXPECT_NEAR(s2 / n, 1.0, 5.0 * std::sqrt(2.0 / n));
  EXPECT_NEAR(s4 / n, 3.0, 5.0 * std::sqrt(96.0 / n));
  double u = 0;
  for (int i = 0; i < n; ++i) u += a.uniform();
  EXPECT_NEAR(u / n, 0.5, 5.0 * std::sqrt(1.0 / 12 / n));
}
