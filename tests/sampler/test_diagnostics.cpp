// R̂, ESS, MCSE and E-BFMI on chains with known answers (AR(1) processes, shifted chains).
#include <gtest/gtest.h>

#include <cmath>

#include "attnpaths/core/rng.hpp"
#include "attnpaths/sampler/diagnostics.hpp"

using namespace attnpaths;
using diagnostics::Draws;

namespace {

// C chains of a stationary AR(1) x_t = φ x_{t-1} + sqrt(1-φ²) ε_t (unit marginal variance).
Draws ar1(int C, int n, double phi, std::uint64_t seed, double shift_last = 0) {
  Draws d(static_cast<std::size_t>(C));
  for (int c = 0; c < C; ++c) {
    RandomStream r(seed, RngDomain::test, static_cast<std::uint64_t>(c));
    double x = r.normal();
    for (int t = 0; t < n; ++t) {
      x = phi * x + std::sqrt(1 - phi * phi) * r.normal();
      d[static_cast<std::size_t>(c)].push_back(x + (c == C - 1 ? shift_last : 0.0));
    }
  }
  return d;
}

}  // namespace

TEST(Diagnostics, NormalQuantile) {
  EXPECT_NEAR(diagnostics::normal_quantile(0.975), 1.959963984540054, 1e-13);
  EXPECT_NEAR(diagnostics::normal_quantile(0.5), 0.0, 1e-15);
  EXPECT_NEAR(diagnostics::normal_quantile(1e-6), -4.753424308822899, 1e-11);
  EXPECT_NEAR(diagnostics::normal_quantile(0.01), -2.326347874040841, 1e-12);
}

TEST(Diagnostics, RankNormalisationAveragesTies) {
  const Draws d{{1.0, 2.0, 2.0, 3.0}};
  const Draws z = diagnostics::rank_normalise(d);
  // ranks 1, 2.5, 2.5, 4 of S = 4: z = Φ⁻¹((r − 3/8)/(4 + 1/4))
  EXPECT_NEAR(z[0][0], diagnostics::normal_quantile(0.625 / 4.25), 1e-14);
  EXPECT_EQ(z[0][1], z[0][2]);
  EXPECT_NEAR(z[0][1], diagnostics::normal_quantile(2.125 / 4.25), 1e-14);
}

TEST(Diagnostics, EssOfAr1MatchesTheory) {
  const int C = 4, n = 10000;
  for (double phi : {0.0, 0.5, 0.9}) {
    const Draws d = ar1(C, n, phi, 17);
    const double expect = C * n * (1 - phi) / (1 + phi);  // n(1−φ)/(1+φ) per chain
    EXPECT_NEAR(diagnostics::ess_bulk(d) / expect, 1.0, 0.12) << "phi " << phi;
    EXPECT_NEAR(diagnostics::ess_mean(d) / expect, 1.0, 0.12) << "phi " << phi;
    EXPECT_NEAR(diagnostics::ess_basic(d) / expect, 1.0, 0.12) << "phi " << phi;
    // Tail ESS (indicators of 5% / 95% events): the same order as the ESS of x.
    EXPECT_GT(diagnostics::ess_tail(d), 0.3 * expect);
    EXPECT_LT(diagnostics::ess_tail(d), 3.0 * expect);  // indicators decorrelate faster than x
    // E-BFMI of AR(1): E[(x_t − x_{t−1})²]/var = 2(1 − φ).
    EXPECT_NEAR(diagnostics::ebfmi(d[0]), 2 * (1 - phi), 0.08);
  }
}

TEST(Diagnostics, RhatSeparatesMixedFromShiftedChains) {
  const Draws same = ar1(4, 2000, 0.5, 23);
  EXPECT_LT(diagnostics::rhat(same), 1.01);
  EXPECT_GT(diagnostics::rhat(same), 0.99);
  EXPECT_NEAR(diagnostics::rhat_basic(same), 1.0, 0.01);
  const Draws shifted = ar1(4, 2000, 0.5, 23, 0.5);  // last chain off by half a standard deviation
  EXPECT_GT(diagnostics::rhat(shifted), 1.02);
  // Scale difference only: caught by the folded (tail) R̂.
  Draws wide = same;
  for (auto& x : wide[3]) x *= 3;
  EXPECT_GT(diagnostics::rhat(wide), 1.05);
  EXPECT_LT(diagnostics::rhat_basic(wide), 1.02);
  // A trend within chains is caught by splitting.
  Draws trend = ar1(4, 2000, 0.2, 29);
  for (auto& c : trend)
    for (std::size_t t = 0; t < c.size(); ++t) c[t] += 1.5 * double(t) / double(c.size());
  EXPECT_GT(diagnostics::rhat(trend), 1.05);
}

TEST(Diagnostics, McseOfIidMeanIsSdOverSqrtN) {
  const Draws d = ar1(4, 5000, 0.0, 31);
  EXPECT_NEAR(diagnostics::mcse_mean(d) / (1.0 / std::sqrt(20000.0)), 1.0, 0.1);
  EXPECT_TRUE(std::isnan(diagnostics::rhat(Draws{{1, 1, 1, 1, 1}})));
}
