// NUTS with Stan's warm-up on a correlated Gaussian of known moments; the warm-up window schedule;
// exact checkpoint/restore of a chain.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "attnpaths/core/index.hpp"
#include "attnpaths/core/linalg.hpp"
#include "attnpaths/sampler/chain.hpp"
#include "attnpaths/sampler/diagnostics.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

using attnpaths::sz;

// N(μ, Σ) with Σ = A Aᵀ + diag (+ shared·1 1ᵀ: one dominant direction), strongly correlated and with
// scales from 0.1 to 10.
class Gaussian : public LogDensity {
 public:
  explicit Gaussian(int d, double shared = 0) : d_(d) {
    RandomStream r(4, rng_domain::test, 0);
    std::vector<double> A(sz(d * d));
    for (auto& a : A) a = r.normal();
    cov_.assign(sz(d * d), 0.0);
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j) {
        double s = 0;
        for (int k = 0; k < d; ++k) s += A[sz(i * d + k)] * A[sz(j * d + k)];
        cov_[sz(i * d + j)] = s + (i == j ? 0.1 : 0.0) + shared;
      }
    // Rescale coordinate i by 10^{(i - d/2)/2}.
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j) cov_[sz(i * d + j)] *= std::pow(10.0, 0.5 * (i - d / 2) + 0.5 * (j - d / 2));
    mean_.resize(sz(d));
    for (int i = 0; i < d; ++i) mean_[sz(i)] = 3.0 - i;
    prec_ = cov_;
    std::vector<double> L = cov_;
    EXPECT_TRUE(linalg::cholesky(d, L.data(), d));
    linalg::cholesky_inverse(d, L.data(), d, prec_.data(), d);
    prior_sd_.assign(sz(d), 1.0);
  }
  std::int64_t dimension() const override { return d_; }
  double evaluate(const double* q, double* g) override {
    ++evaluations_;
    double lp = 0;
    for (int i = 0; i < d_; ++i) {
      double s = 0;
      for (int j = 0; j < d_; ++j) s += prec_[sz(i * d_ + j)] * (q[j] - mean_[sz(j)]);
      g[i] = -s;
      lp -= 0.5 * (q[i] - mean_[sz(i)]) * s;
    }
    return lp;
  }
  int d_;
  std::vector<double> mean_, cov_, prec_;
};

}  // namespace

class Metrics : public ::testing::TestWithParam<bool> {};  // dense?

TEST_P(Metrics, RecoversMeanAndCovarianceOfCorrelatedGaussian) {
  const int d = 6, C = 4;
  const bool dense = GetParam();
  Gaussian target(d);
  ChainOptions opt;
  opt.dense_metric = dense;
  opt.warmup = 600;
  opt.draws = 2000;
  std::vector<diagnostics::Draws> x(sz(d), diagnostics::Draws(C, std::vector<double>()));
  std::vector<std::vector<double>> metric;
  int divergences = 0;
  for (int c = 0; c < C; ++c) {
    Chain chain(target, opt, 21, c);
    chain.initialise();
    while (!chain.done()) {
      const bool warm = chain.warming_up();
      const NutsStats s = chain.iterate();
      if (warm) continue;
      divergences += s.divergent;
      for (int i = 0; i < d; ++i) x[sz(i)][sz(c)].push_back(chain.position()[sz(i)]);
    }
    metric.push_back(chain.inv_metric());
  }
  EXPECT_EQ(divergences, 0);
  for (int i = 0; i < d; ++i) {
    const auto& xi = x[sz(i)];
    double m = 0;
    for (const auto& c : xi)
      for (double v : c) m += v;
    m /= double(C) * double(opt.draws);
    const double mcse = diagnostics::mcse_mean(xi);
    EXPECT_NEAR(m, target.mean_[sz(i)], 4 * mcse) << "mean " << i;
    EXPECT_LT(diagnostics::rhat(xi), 1.01);
    EXPECT_GT(diagnostics::ess_bulk(xi), 400);
    for (int j = 0; j <= i; ++j) {
      diagnostics::Draws prod(C);
      for (int c = 0; c < C; ++c)
        for (std::size_t s = 0; s < xi[sz(c)].size(); ++s)
          prod[sz(c)].push_back((x[sz(i)][sz(c)][s] - target.mean_[sz(i)]) * (x[sz(j)][sz(c)][s] - target.mean_[sz(j)]));
      double cov = 0;
      for (const auto& c : prod)
        for (double v : c) cov += v;
      cov /= double(C) * double(opt.draws);
      EXPECT_NEAR(cov, target.cov_[sz(i * d + j)], 4 * diagnostics::mcse_mean(prod)) << "cov " << i << "," << j;
    }
    // The adapted metric is the marginal variance, or the whole covariance (up to the estimator's noise).
    for (int c = 0; c < C; ++c) {
      ASSERT_EQ(metric[sz(c)].size(), sz(dense ? d * d : d));
      for (int j = 0; j < (dense ? d : 1); ++j) {
        const double ref = target.cov_[sz(i * d + (dense ? j : i))];
        const double scale = std::sqrt(target.cov_[sz(i * d + i)] * target.cov_[sz(j * d + j)]);
        EXPECT_NEAR(metric[sz(c)][sz(dense ? i * d + j : i)], ref, 0.35 * (dense ? scale : ref))
            << "metric " << i << "," << j << " chain " << c;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(DiagAndDense, Metrics, ::testing::Values(false, true));

TEST(Nuts, DenseMetricNeedsMuchShallowerTreesOnACorrelatedGaussian) {
  // Σ with correlations ~0.9 and scales over two decades: the diagonal metric cannot undo the
  // correlation, the dense metric makes the target nearly isotropic.
  const int d = 10;
  Gaussian target(d, 1000.0);
  double depth[2] = {0, 0}, leapfrogs[2] = {0, 0};
  for (const bool dense : {false, true}) {
    ChainOptions opt;
    opt.dense_metric = dense;
    opt.warmup = 500;
    opt.draws = 300;
    Chain chain(target, opt, 5, 0);
    chain.initialise();
    while (!chain.done()) {
      const bool warm = chain.warming_up();
      const NutsStats s = chain.iterate();
      if (warm) continue;
      depth[dense] += s.tree_depth / double(opt.draws);
      leapfrogs[dense] += s.n_leapfrog / double(opt.draws);
    }
  }
  EXPECT_LE(depth[1], 3.5);
  EXPECT_GE(leapfrogs[0], 4 * leapfrogs[1]) << "mean tree depth: diag " << depth[0] << ", dense " << depth[1];
}

TEST(Adaptation, StanWindowSchedule) {
  auto ends = [](std::int64_t warmup) {
    WindowedVarianceAdaptation w(warmup, 1);
    std::vector<double> q{0.0}, m{1.0};
    std::vector<std::int64_t> out;
    for (std::int64_t i = 0; i < warmup; ++i) {
      q[0] = double(i % 7);
      if (w.learn(q, m)) out.push_back(i);
    }
    return out;
  };
  // 75 initial buffer, windows 25, 50, 100, 200, the last stretched to the 50-iteration terminal buffer.
  EXPECT_EQ(ends(1000), (std::vector<std::int64_t>{99, 149, 249, 449, 949}));
  // Short warm-up: buffers 15% / 10%, one slow window.
  EXPECT_EQ(ends(100), (std::vector<std::int64_t>{89}));
  EXPECT_TRUE(ends(10).empty());
}

TEST(Adaptation, DualAveragingConvergesToTargetAcceptance) {
  // Dual averaging drives the running mean of (δ − accept_stat) to zero during the adaptive phase;
  // the final step exp(x̄) is a little smaller, so the sampling acceptance lands at or above δ.
  Gaussian target(6);
  ChainOptions opt;
  opt.warmup = 1000;
  opt.draws = 1000;
  opt.target_accept = 0.7;
  Chain chain(target, opt, 5, 0);
  chain.initialise();
  double acc = 0;
  int n = 0;
  double s_bar = 1;
  while (!chain.done()) {
    const bool warm = chain.warming_up();
    const NutsStats s = chain.iterate();
    if (warm && chain.iteration() == opt.warmup) s_bar = chain.state().step_adaptation.s_bar;
    if (!warm) {
      acc += s.accept_stat;
      ++n;
    }
  }
  EXPECT_LT(std::abs(s_bar), 0.03);
  EXPECT_GT(acc / n, 0.65);
  EXPECT_LT(acc / n, 0.97);
}

TEST_P(Metrics, RestoredStateContinuesBitForBit) {
  Gaussian target(4);
  ChainOptions opt;
  opt.dense_metric = GetParam();
  opt.warmup = 150;
  opt.draws = 100;
  Chain a(target, opt, 8, 2);
  a.initialise();
  for (int i = 0; i < 120; ++i) a.iterate();  // mid warm-up (inside a slow window)
  ChainState st = a.state();
  Chain b(target, opt, 8, 2);
  b.restore(st);
  while (!a.done()) {
    const NutsStats sa = a.iterate(), sb = b.iterate();
    ASSERT_EQ(sa.energy, sb.energy);
    ASSERT_EQ(sa.step_size, sb.step_size);
    ASSERT_EQ(a.position(), b.position());
  }
  EXPECT_TRUE(b.done());
}
