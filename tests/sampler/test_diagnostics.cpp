// R̂, ESS, MCSE and E-BFMI on chains with known answers (AR(1) processes, shifted chains).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "attnpaths/core/rng.hpp"
#include "attnpaths/sampler/diagnostics.hpp"
#include "test_support.hpp"

using namespace attnpaths;
using diagnostics::Draws;

namespace {

// C chains of a stationary AR(1) x_t = φ x_{t-1} + sqrt(1-φ²) ε_t (unit marginal variance).
Draws ar1(int C, int n, double phi, std::uint64_t seed, double shift_last = 0) {
  Draws d(static_cast<std::size_t>(C));
  for (int c = 0; c < C; ++c) {
    RandomStream r(seed, rng_domain::test, static_cast<std::uint64_t>(c));
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

// Issue 8, item 2: a NaN diagnostic is never dropped, and Stan's thresholds produce warnings.
TEST(Diagnostics, NanIsNeverDropped) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(diagnostics::max_or_nan({1.0, nan, 1.2})));
  EXPECT_TRUE(std::isnan(diagnostics::min_or_nan({400.0, nan})));
  EXPECT_EQ(diagnostics::max_or_nan({1.0, 1.2}), 1.2);
  EXPECT_EQ(diagnostics::min_or_nan({500.0, 450.0}), 450.0);
  // A chain with a NaN draw: R-hat and ESS are NaN (not a finite number that passes a check).
  diagnostics::Draws d{{0.1, 0.3, nan, 0.2, 0.5, 0.4}, {0.2, 0.1, 0.3, 0.6, 0.2, 0.1}};
  EXPECT_TRUE(std::isnan(diagnostics::rhat(d)));
  EXPECT_TRUE(std::isnan(diagnostics::ess_bulk(d)));
}

TEST(Diagnostics, StanWarnings) {
  using diagnostics::ObservableDiagnostics;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const ObservableDiagnostics good{"U1", {1.001, 1.005}, {900, 1000}, {800, 850}};
  // 4 chains: ESS threshold 400; everything fine -> no warning.
  EXPECT_TRUE(diagnostics::stan_warnings({good}, 4, {0, 0, 0, 0}, {0, 0, 0, 0}, 10, {0.9, 1.0, 0.8, 0.7}).empty());
  auto has = [](const std::vector<std::string>& w, const std::string& needle) {
    for (const auto& s : w)
      if (s.find(needle) != std::string::npos) return true;
    return false;
  };
  const ObservableDiagnostics bad{"predictor", {1.03, nan}, {119, 900}, {399, 500}};
  const auto w = diagnostics::stan_warnings({good, bad}, 4, {0, 2, 0, 0}, {0, 0, 3, 0}, 10, {0.9, 0.2, 0.8, 0.7});
  EXPECT_TRUE(has(w, "predictor: 1 R-hat/ESS values are NaN")) << ::testing::PrintToString(w);
  EXPECT_TRUE(has(w, "R-hat > 1.01 for 1 of 2"));
  EXPECT_TRUE(has(w, "bulk ESS < 400"));
  EXPECT_TRUE(has(w, "tail ESS < 400"));
  EXPECT_TRUE(has(w, "2 divergent transitions"));
  EXPECT_TRUE(has(w, "3 draws reached the maximum tree depth 10"));
  EXPECT_TRUE(has(w, "chain 1: E-BFMI 0.200 < 0.3"));
  EXPECT_FALSE(has(w, "U1:"));
  // 1 chain: the threshold is 100 per chain.
  EXPECT_TRUE(has(diagnostics::stan_warnings({{"f", {1.0}, {99}, {150}}}, 1, {0}, {0}, 10, {1.0}), "bulk ESS < 100"));
}
