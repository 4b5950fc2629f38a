// At large width and small α = P/N the posterior over the weights reproduces the GP limit
// (docs/model.md §3.5): the sampled predictor ≈ the GP predictor of the kernel K = σa²Πσl² Σ_π ξ_π·ξ_π',
// ξ = sqrt(σ0²/(N0 H)) x̃ (computed here independently), and the sampled U_1 ≈ the finite-width theory's
// U_1, which is close to the GP point σa² Π σl² · I.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "attnpaths/core/index.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"
#include "attnpaths/sampler/chain.hpp"
#include "attnpaths/sampler/diagnostics.hpp"
#include "attnpaths/sampler/posterior.hpp"
#include "attnpaths/theory/action.hpp"
#include "attnpaths/theory/minimiser.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

using attnpaths::sz;

PathInputs inputs(std::int64_t count, int H, int N0, std::uint64_t seed) {
  PathInputs p;
  p.count = count;
  p.local = {0, count};
  p.paths = H;
  p.dim = N0;
  for (std::int64_t mu = 0; mu < count; ++mu) {
    RandomStream r(seed, rng_domain::test, static_cast<std::uint64_t>(mu));
    const double y = mu % 2 == 0 ? 1.0 : -1.0;
    for (int pi = 0; pi < H; ++pi)
      for (int i = 0; i < N0; ++i) p.xt.push_back(r.normal() + (i == pi ? 1.5 * y : 0.0));
    p.y.push_back(y);
  }
  return p;
}

// GP predictor (docs/model.md §3.5–3.6) with U = u·I: mean = yᵀ K_T⁻¹ k*, var = K** − k*ᵀ K_T⁻¹ k*.
void gp_predictor(const PathInputs& tr, const PathInputs& te, double s0, double u, double Temp, std::vector<double>& mean,
                  std::vector<double>& var) {
  const int H = tr.paths, N0 = tr.dim;
  const auto P = sz(tr.count), Q = sz(te.count);
  const double c = u * s0 / (double(N0) * H);
  auto k = [&](const double* a, const double* b) {
    double s = 0;
    for (int j = 0; j < H * N0; ++j) s += a[j] * b[j];
    return c * s;
  };
  std::vector<double> K(P * P);
  for (std::size_t a = 0; a < P; ++a)
    for (std::size_t b = 0; b < P; ++b)
      K[a * P + b] = k(tr.row(static_cast<std::int64_t>(a)), tr.row(static_cast<std::int64_t>(b))) + (a == b ? Temp : 0);
  // Gauss–Jordan inverse (small P).
  std::vector<double> inv(P * P, 0.0);
  for (std::size_t i = 0; i < P; ++i) inv[i * P + i] = 1;
  for (std::size_t i = 0; i < P; ++i) {
    const double d = K[i * P + i];
    for (std::size_t j = 0; j < P; ++j) {
      K[i * P + j] /= d;
      inv[i * P + j] /= d;
    }
    for (std::size_t r = 0; r < P; ++r)
      if (r != i) {
        const double f = K[r * P + i];
        for (std::size_t j = 0; j < P; ++j) {
          K[r * P + j] -= f * K[i * P + j];
          inv[r * P + j] -= f * inv[i * P + j];
        }
      }
  }
  mean.assign(Q, 0.0);
  var.assign(Q, 0.0);
  for (std::size_t q = 0; q < Q; ++q) {
    std::vector<double> ks(P);
    for (std::size_t a = 0; a < P; ++a) ks[a] = k(tr.row(static_cast<std::int64_t>(a)), te.row(static_cast<std::int64_t>(q)));
    double m = 0, v = k(te.row(static_cast<std::int64_t>(q)), te.row(static_cast<std::int64_t>(q)));
    for (std::size_t a = 0; a < P; ++a)
      for (std::size_t b = 0; b < P; ++b) {
        m += tr.y[a] * inv[a * P + b] * ks[b];
        v -= ks[a] * inv[a * P + b] * ks[b];
      }
    mean[q] = m;
    var[q] = v;
  }
}

void check_gp_limit(const std::string& target_name, int N, std::int64_t P) {
  const int N0 = 6, H = 2, C = 2, Q = 6;
  const double Temp = 0.5;
  const Architecture shape = Architecture::network(N0, {H}, {N, N}, {1.3, 0.8, 1.2});  // σ0², σ1², σa²
  const PathInputs train = inputs(P, H, N0, 1), test = inputs(Q, H, N0, 2);
  Comm self = test::world().split(test::world().rank(), 0);
  ExampleBlocks blocks(P, 16, self);
  std::unique_ptr<LogDensity> target;
  JointPosterior* joint = nullptr;
  MarginalPosterior* marginal = nullptr;
  if (target_name == "joint") {
    auto j = std::make_unique<JointPosterior>(shape, Temp, train, blocks);
    joint = j.get();
    target = std::move(j);
  } else {
    auto m = std::make_unique<MarginalPosterior>(shape, Temp, train, MarginalPosterior::coordinates_of(target_name));
    marginal = m.get();
    target = std::move(m);
  }
  ChainOptions opt;
  opt.warmup = 150;
  opt.draws = 300;
  std::vector<diagnostics::Draws> U(sz(H * H), diagnostics::Draws(C)), f(sz(Q), diagnostics::Draws(C));
  std::vector<double> Us(sz(H * H)), u(sz(H * N0)), fq(sz(Q));
  for (int c = 0; c < C; ++c) {
    Chain chain(*target, opt, 3, c);
    chain.initialise();
    while (!chain.done()) {
      const bool warm = chain.warming_up();
      chain.iterate();
      if (warm) continue;
      if (joint)
        joint->observe(chain.position().data(), Us.data(), u.data());
      else
        marginal->observe(chain.position().data(), chain.rng(), Us.data(), u.data());
      PathNetwork::predict(u.data(), test.xt.data(), Q, H, N0, fq.data());
      for (int e = 0; e < H * H; ++e) U[sz(e)][sz(c)].push_back(Us[sz(e)]);
      for (int q = 0; q < Q; ++q) f[sz(q)][sz(c)].push_back(fq[sz(q)]);
    }
  }
  // U_1 against the finite-width theory at the same (N, P, Temp): at N = 80 its O(α) shift from the GP
  // point (up to ~6 % on a diagonal entry here) exceeds the Monte Carlo error of these runs.
  const double u_gp = 1.2 * 0.8;  // σa² σ1²
  const Architecture& arch = shape;  // the sampled network is the theory's architecture
  auto kernel = make_renormalized_kernel(KernelForm::primal, train, shape.variances[0], self);
  Action action(arch, *kernel, Temp);
  const MinimiserResult theory = minimise_action(action, gp_point(arch), MinimiserOptions{}, self);
  ASSERT_TRUE(theory.converged) << theory.reason;
  for (int e = 0; e < H * H; ++e) {
    double m = 0;
    for (const auto& ch : U[sz(e)])
      for (double x : ch) m += x;
    m /= double(C * opt.draws);
    const double expect = theory.op.U1()(e / H, e % H);
    EXPECT_NEAR(expect, e % (H + 1) == 0 ? u_gp : 0.0, 0.1) << "theory U1 entry " << e << " far from the GP point";
    EXPECT_NEAR(m, expect, 4 * diagnostics::mcse_mean(U[sz(e)]) + 0.01) << target_name << " U1 entry " << e;
  }
  std::vector<double> gm, gv;
  gp_predictor(train, test, 1.3, u_gp, Temp, gm, gv);
  double largest = 0;
  for (int q = 0; q < Q; ++q) {
    double m = 0, m2 = 0;
    for (const auto& ch : f[sz(q)])
      for (double x : ch) m += x;
    const double n = double(C * opt.draws);
    m /= n;
    for (const auto& ch : f[sz(q)])
      for (double x : ch) m2 += (x - m) * (x - m);
    const double v = m2 / (n - 1);
    EXPECT_NEAR(m, gm[sz(q)], 4 * diagnostics::mcse_mean(f[sz(q)]) + 0.01) << target_name << " mean at test point " << q;
    const double ess = diagnostics::ess_mean(f[sz(q)]);
    EXPECT_NEAR(v / gv[sz(q)], 1.0, 4 * std::sqrt(2.0 / ess) + 0.02) << target_name << " var at test point " << q;
    largest = std::max(largest, std::abs(gm[sz(q)]));
  }
  EXPECT_GT(largest, 0.2);  // non-trivial predictions
}

}  // namespace

// α = P/N ≤ 0.05: the predictor is within Monte Carlo error of the GP's, U_1 of the finite-width
// theory's (itself within 0.1 of the GP point). The weight-space targets at N = 80 (their cost grows as N²·N^{1/4}); the path-weight target at N = 2000, P = 20.
TEST(GpLimit, JointPosteriorAtLargeWidth) { check_gp_limit("joint", 80, 4); }
TEST(GpLimit, MarginalPosteriorAtLargeWidth) { check_gp_limit("v0-marginal", 80, 4); }
TEST(GpLimit, PathWeightPosteriorAtLargeWidth) { check_gp_limit("path-weights", 2000, 20); }
