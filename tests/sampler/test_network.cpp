// The path-factorised network (model/network.hpp) and the posteriors (sampler/posterior.hpp) against
// independent computations: the literal forward pass of docs/model.md §1, path inputs built here from the
// attention matrices, central finite differences, and the shard-count invariance of the reduction.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "attnpaths/core/index.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/model/attention.hpp"
#include "attnpaths/model/network.hpp"
#include "attnpaths/model/path_inputs.hpp"
#include "attnpaths/sampler/posterior.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

using attnpaths::sz;

Architecture make_shape(int N0, std::vector<int> heads, std::vector<int> widths, std::vector<double> variances) {
  return Architecture::network(N0, std::move(heads), widths, std::move(variances));
}

std::vector<double> random_vector(std::size_t n, RandomStream& rng, double scale = 1.0) {
  std::vector<double> v(n);
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

// Random column-stochastic attention (softmax over keys s of random scores) for every layer.
BlockAttention random_attention(const std::vector<int>& heads, int T, RandomStream& rng) {
  BlockAttention att;
  const int L = static_cast<int>(heads.size());
  auto softmax_columns = [&](std::vector<double>& a) {
    for (int t = 0; t < T; ++t) {
      double m = -1e300, s = 0;
      for (int k = 0; k < T; ++k) m = std::max(m, a[sz(k * T + t)]);
      for (int k = 0; k < T; ++k) s += (a[sz(k * T + t)] = std::exp(a[sz(k * T + t)] - m));
      for (int k = 0; k < T; ++k) a[sz(k * T + t)] /= s;
    }
  };
  for (int l = 0; l + 1 < L; ++l) {
    att.full.emplace_back();
    for (int h = 0; h < heads[sz(l)]; ++h) {
      auto a = random_vector(sz(T * T), rng, 2.0);
      softmax_columns(a);
      att.full.back().push_back(a);
    }
  }
  for (int h = 0; h < heads[sz(L - 1)]; ++h) {
    auto a = random_vector(sz(T * T), rng, 2.0);
    softmax_columns(a);
    std::vector<double> w(sz(T));
    for (int s = 0; s < T; ++s) w[sz(s)] = a[sz(s * T + T - 1)];  // last-token readout
    att.last.push_back(w);
  }
  return att;
}

// x̃_π = x Ω^{1,h1} ⋯ ω^{L,hL} (docs/model.md §1.3), literally: a = ω, then a ← Ω a layer by layer.
std::vector<double> path_inputs_literal(const Architecture& shape, const BlockAttention& att, const double* x,
                                        int T) {
  const int L = shape.depth(), H = shape.paths(), N0 = shape.input_dim;
  std::vector<double> xt(sz(H) * sz(N0), 0.0);
  for (int pi = 0; pi < H; ++pi) {
    std::vector<int> h(sz(L));
    int r = pi;
    for (int l = L - 1; l >= 0; --l) {
      h[sz(l)] = r % shape.heads[sz(l)];
      r /= shape.heads[sz(l)];
    }
    std::vector<double> a = att.last[sz(h[sz(L - 1)])];
    for (int l = L - 2; l >= 0; --l) {
      std::vector<double> b(sz(T), 0.0);
      const auto& om = att.full[sz(l)][sz(h[sz(l)])];
      for (int s = 0; s < T; ++s)
        for (int t = 0; t < T; ++t) b[sz(s)] += om[sz(s * T + t)] * a[sz(t)];
      a = b;
    }
    for (int s = 0; s < T; ++s)
      for (int i = 0; i < N0; ++i) xt[sz(pi * N0 + i)] += a[sz(s)] * x[sz(s * N0 + i)];
  }
  return xt;
}

struct Case {
  std::vector<int> heads, widths;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {{3}, {5, 4}},              // L = 1
      {{2, 3}, {6, 4, 5}},        // L = 2, unequal heads and widths
      {{2, 1, 3}, {4, 7, 3, 5}},  // L = 3
      {{2, 5}, {3, 6, 4}},        // L = 2, 5 rows at layer 1: the BLAS branch of the backward pass
  };
  return c;
}

// The shape of a case, with unequal prior variances per layer.
Architecture case_shape(const Case& c, int N0) {
  std::vector<double> var{1.3};
  for (std::size_t l = 0; l < c.heads.size(); ++l) var.push_back(0.7 + 0.2 * double(l));
  var.push_back(1.1);
  return make_shape(N0, c.heads, c.widths, var);
}

}  // namespace

TEST(PathNetwork, FactorisedOutputEqualsNaiveForwardPass) {
  RandomStream rng(3, rng_domain::test, 0);
  const int T = 6, N0 = 7;
  for (const auto& c : cases()) {
    const Architecture shape = case_shape(c, N0);
    PathNetwork net(shape);
    const auto theta = random_vector(sz(shape.size()), rng);
    const auto x = random_vector(sz(T * N0), rng);
    const BlockAttention att = random_attention(c.heads, T, rng);
    const double naive = naive_forward(shape, theta.data(), att, x.data(), T);
    const auto xt = path_inputs_literal(shape, att, x.data(), T);
    std::vector<double> u(sz(shape.paths()) * sz(N0));
    net.forward_path_weights(theta.data());
    net.path_readouts(theta.data(), u.data());
    double f = 0;
    PathNetwork::predict(u.data(), xt.data(), 1, shape.paths(), N0, &f);
    EXPECT_NEAR(f, naive, 1e-12 * (1 + std::abs(naive))) << "L = " << shape.depth();
    EXPECT_GT(std::abs(naive), 1e-3);  // a non-trivial output
    // The gradient of f (naive reverse mode) equals the factorised backward with ∂f/∂u = x̃.
    std::vector<double> g_naive(sz(shape.size()), 0.0), g_path(sz(shape.size()), 0.0);
    naive_forward_backward(shape, theta.data(), att, x.data(), T, 1.0, g_naive.data());
    net.backward_readouts(theta.data(), xt.data(), g_path.data());
    for (std::size_t i = 0; i < g_naive.size(); ++i)
      ASSERT_NEAR(g_path[i], g_naive[i], 1e-12 * (1 + std::abs(g_naive[i]))) << "L = " << shape.depth() << " i = " << i;
  }
}

TEST(PathNetwork, FusedPriorAndBackwardEqualsTheTwoSteps) {
  // prior_and_backward_readouts (one pass per layer block) against log_prior + backward_readouts.
  RandomStream rng(4, rng_domain::test, 0);
  const int N0 = 7;
  for (const auto& c : cases()) {
    const Architecture shape = case_shape(c, N0);
    PathNetwork net(shape);
    const auto theta = random_vector(sz(shape.size()), rng);
    const auto du = random_vector(sz(shape.paths()) * sz(N0), rng);
    net.forward_path_weights(theta.data());
    std::vector<double> g_two(sz(shape.size()), 7.0), g_fused(sz(shape.size()), -3.0);  // garbage: overwritten
    const double lp_two = net.log_prior(theta.data(), g_two.data(), true);
    net.backward_readouts(theta.data(), du.data(), g_two.data());
    const double lp_fused = net.prior_and_backward_readouts(theta.data(), du.data(), g_fused.data());
    EXPECT_NEAR(lp_fused, lp_two, 1e-12 * std::abs(lp_two)) << "L = " << shape.depth();
    for (std::size_t i = 0; i < g_two.size(); ++i)
      ASSERT_NEAR(g_fused[i], g_two[i], 1e-12 * (1 + std::abs(g_two[i]))) << "L = " << shape.depth() << " i = " << i;
  }
}

TEST(PathNetwork, MatchesPathInputsOfTheModelStage) {
  // The same identity through the model stage's attention and path inputs ("w" style heads).
  RandomStream rng(5, rng_domain::test, 1);
  const int T = 5, N0 = 4;
  AttentionSpec spec;
  spec.readout = Readout::last_token;
  for (int H : {2, 3}) {
    AttentionLayer layer;
    layer.style = AttentionStyle::w;
    layer.heads = H;
    layer.w = random_vector(sz(H * N0 * N0), rng, 0.5);
    spec.layers.push_back(layer);
  }
  ExampleSet set;
  set.name = "train";
  set.count = 1;
  set.local = {0, 1};
  const std::vector<double> x = random_vector(sz(T * N0), rng);
  set.x.assign(x.begin(), x.end());
  set.y = {1.0};
  const PathInputs pin = compute_path_inputs(set, spec, T, N0);
  BlockAttention att;
  att.full.emplace_back();
  for (int h = 0; h < 2; ++h) {
    std::vector<double> om(sz(T * T));
    attention_matrix(spec.layers[0], h, Nonlinearity::softmax, set.x.data(), T, N0, om.data());
    att.full[0].push_back(om);
  }
  for (int h = 0; h < 3; ++h) {
    std::vector<double> om(sz(T * T)), w(sz(T));
    attention_matrix(spec.layers[1], h, Nonlinearity::softmax, set.x.data(), T, N0, om.data());
    readout_vector(Readout::last_token, om.data(), T, w.data());
    att.last.push_back(w);
  }
  const Architecture shape = make_shape(N0, {2, 3}, {3, 4, 2}, {1, 1, 1, 1});
  const auto theta = random_vector(sz(shape.size()), rng);
  PathNetwork net(shape);
  std::vector<double> u(sz(shape.paths() * N0));
  net.forward_path_weights(theta.data());
  net.path_readouts(theta.data(), u.data());
  double f = 0;
  PathNetwork::predict(u.data(), pin.xt.data(), 1, shape.paths(), N0, &f);
  const double naive = naive_forward(shape, theta.data(), att, set.x.data(), T);
  EXPECT_NEAR(f, naive, 1e-12 * (1 + std::abs(naive)));
}

namespace {

// Synthetic path inputs of P examples (the global rows `rows`), identical for any split.
PathInputs synthetic_inputs(std::int64_t P, int H, int N0, Range rows) {
  PathInputs p;
  p.set_name = "train";
  p.count = P;
  p.local = rows;
  p.paths = H;
  p.dim = N0;
  for (std::int64_t mu = rows.begin; mu < rows.end; ++mu) {
    RandomStream r(11, rng_domain::test, static_cast<std::uint64_t>(mu));
    for (int j = 0; j < H * N0; ++j) p.xt.push_back(r.normal() + (j % N0 == 0 ? 1.0 : 0.0));
    p.y.push_back(mu % 2 == 0 ? 1.0 : -1.0);
  }
  return p;
}

template <class F>
void check_gradient(LogDensity& target, const std::vector<double>& theta, F name) {
  const auto n = sz(target.dimension());
  std::vector<double> g(n), tmp(n);
  target.evaluate(theta.data(), g.data());
  RandomStream pick(9, rng_domain::test, 2);
  for (int k = 0; k < 40; ++k) {
    const std::size_t i = static_cast<std::size_t>(pick.bits() % n);
    const double h = 1e-5 * (1 + std::abs(theta[i]));
    auto tp = theta, tm = theta;
    tp[i] += h;
    tm[i] -= h;
    const double fd = (target.evaluate(tp.data(), tmp.data()) - target.evaluate(tm.data(), tmp.data())) / (2 * h);
    EXPECT_NEAR(g[i], fd, 1e-6 * (1 + std::abs(fd))) << name << ": coordinate " << i;
  }
}

}  // namespace

TEST(Posterior, JointGradientMatchesFiniteDifferences) {
  const Comm& world = test::world();
  const Architecture shape = make_shape(5, {2, 3}, {4, 3, 6}, {1.5, 0.8, 1.2, 0.9});
  const std::int64_t P = 13;
  ExampleBlocks blocks(P, 16, world);
  JointPosterior post(shape, 0.3, synthetic_inputs(P, shape.paths(), 5, blocks.local()), blocks);
  RandomStream rng(1, rng_domain::test, 7);
  check_gradient(post, random_vector(sz(shape.size()), rng, 0.8), "joint");
}

TEST(Posterior, JointLogDensityIsTheLiteralSum) {
  // log p = −Σ (y − f)²/(2 Temp) − Σ θ²/(2σ²), f from the path form on all examples (single process).
  const Comm& world = test::world();
  const Architecture shape = make_shape(4, {2, 2}, {3, 5, 2}, {1.5, 0.8, 1.2, 0.9});
  const std::int64_t P = 9;
  const double Temp = 0.2;
  ExampleBlocks blocks(P, 16, world);
  JointPosterior post(shape, Temp, synthetic_inputs(P, shape.paths(), 4, blocks.local()), blocks);
  RandomStream rng(2, rng_domain::test, 7);
  const auto theta = random_vector(sz(shape.size()), rng);
  std::vector<double> g(theta.size());
  const double lp = post.evaluate(theta.data(), g.data());
  const PathInputs all = synthetic_inputs(P, shape.paths(), 4, {0, P});
  PathNetwork net(shape);
  std::vector<double> u(sz(shape.paths() * 4)), f(sz(P));
  net.forward_path_weights(theta.data());
  net.path_readouts(theta.data(), u.data());
  PathNetwork::predict(u.data(), all.xt.data(), P, shape.paths(), 4, f.data());
  double expect = 0;
  for (std::int64_t mu = 0; mu < P; ++mu) expect -= std::pow(all.y[sz(mu)] - f[sz(mu)], 2) / (2 * Temp);
  for (std::size_t i = 0; i < theta.size(); ++i)
    expect -= theta[i] * theta[i] / (2 * shape.prior_variance(static_cast<std::int64_t>(i)));
  EXPECT_NEAR(lp, expect, 1e-10 * std::abs(expect));
}

TEST(Posterior, MarginalGradientMatchesFiniteDifferences) {
  const Architecture shape = make_shape(5, {2, 3}, {4, 3, 6}, {1.5, 0.8, 1.2, 0.9});
  const std::int64_t P = 11;
  MarginalPosterior post(shape, 0.3, synthetic_inputs(P, shape.paths(), 5, {0, P}));
  RandomStream rng(1, rng_domain::test, 8);
  check_gradient(post, random_vector(sz(post.dimension()), rng, 0.8), "v0-marginal");
}

TEST(Posterior, PathWeightGradientMatchesFiniteDifferences) {
  for (const auto& c : cases()) {
    Architecture shape = case_shape(c, 5);
    for (auto& w : shape.widths) w += 6;  // width ≥ suffix paths
    const std::int64_t P = 7;
    MarginalPosterior post(shape, 0.3, synthetic_inputs(P, shape.paths(), 5, {0, P}),
                           MarginalPosterior::Coordinates::path_weights);
    RandomStream rng(6, rng_domain::test, static_cast<std::uint64_t>(shape.depth()));
    check_gradient(post, random_vector(sz(post.dimension()), rng, 0.8), "path-weights L=" + std::to_string(shape.depth()));
  }
}

TEST(PathWeightFactors, LawOfPathWeightsMatchesTheWeights) {
  // E[W_π·W_π'/w0] = σa² Π σl² δ_ππ' and the second moments of U^s agree between W from random
  // weights V and W from the factors (Monte Carlo, fixed seeds).
  const Architecture shape = make_shape(3, {2, 2}, {5, 4, 6}, {1.0, 0.7, 1.3, 0.9});
  PathNetwork net(shape);
  PathWeightFactors fac(shape);
  const int H = shape.paths(), n = 20000;
  std::vector<double> m1(sz(H * H), 0.0), m2(sz(H * H), 0.0), q1(sz(H * H), 0.0), q2(sz(H * H), 0.0);
  std::vector<double> r1(sz(H * H), 0.0), r2(sz(H * H), 0.0);  // fourth moments (error bars of q)
  RandomStream rng(12, rng_domain::test, 0);
  auto accumulate = [&](const std::vector<double>& W, std::vector<double>& m, std::vector<double>& q,
                        std::vector<double>& r) {
    for (int a = 0; a < H; ++a)
      for (int b = 0; b < H; ++b) {
        double u = 0;
        for (int k = 0; k < 5; ++k) u += W[sz(a * 5 + k)] * W[sz(b * 5 + k)] / 5.0;
        m[sz(a * H + b)] += u / n;
        q[sz(a * H + b)] += u * u / n;
        r[sz(a * H + b)] += u * u * u * u / n;
      }
  };
  for (int i = 0; i < n; ++i) {
    std::vector<double> theta(sz(shape.size()));
    for (std::int64_t j = 0; j < shape.size(); ++j) theta[sz(j)] = std::sqrt(shape.prior_variance(j)) * rng.normal();
    accumulate(net.forward_path_weights(theta.data()), m1, q1, r1);
    std::vector<double> phi(sz(fac.size()));
    for (std::int64_t j = 0; j < fac.size(); ++j) phi[sz(j)] = fac.prior_sd(j) * rng.normal();
    accumulate(fac.forward(phi.data()), m2, q2, r2);
  }
  const double gp = 0.9 * 0.7 * 1.3;
  for (int e = 0; e < H * H; ++e) {
    const double sd = std::sqrt(q1[sz(e)] / n);
    EXPECT_NEAR(m1[sz(e)], e % (H + 1) == 0 ? gp : 0.0, 5 * sd) << "weights, entry " << e;
    EXPECT_NEAR(m2[sz(e)], e % (H + 1) == 0 ? gp : 0.0, 5 * sd) << "factors, entry " << e;
    const double se = std::sqrt((r1[sz(e)] - q1[sz(e)] * q1[sz(e)] + r2[sz(e)] - q2[sz(e)] * q2[sz(e)]) / n);
    EXPECT_NEAR(q2[sz(e)], q1[sz(e)], 5 * se) << "second moment, entry " << e;
    EXPECT_LT(se, 0.1 * q1[sz(e)]);  // the check has teeth
  }
}

TEST(Posterior, MarginalLikelihoodIntegratesV0) {
  // log N(y; 0, K(U^s) + Temp I) equals the V0 integral of the joint likelihood: checked on a case
  // with w0·N0 small enough to integrate the Gaussian exactly, in closed form over vec(V0):
  // f = A vec(V0), A[μ, (k,i)] = Σ_π W_π[k] x̃^μ_π[i]/sqrt(w0 N0 H) ⇒ y ~ N(0, σ0² A Aᵀ + Temp I).
  const int N0 = 3;
  const Architecture shape = make_shape(N0, {2}, {2, 3}, {1.7, 0.9, 1.1});
  const std::int64_t P = 5;
  const double Temp = 0.4;
  const PathInputs in = synthetic_inputs(P, shape.paths(), N0, {0, P});
  MarginalPosterior post(shape, Temp, in);
  RandomStream rng(4, rng_domain::test, 1);
  const auto full = random_vector(sz(shape.size()), rng);
  const std::vector<double> theta(full.begin() + shape.v0_size(), full.end());
  std::vector<double> g(theta.size());
  PathNetwork net(shape);
  const auto& W = net.forward_path_weights(full.data());
  const int H = shape.paths(), w0 = shape.width(0);
  const double s = 1.0 / std::sqrt(double(w0) * N0 * H);
  std::vector<double> A(sz(P) * sz(w0 * N0), 0.0);
  for (std::int64_t mu = 0; mu < P; ++mu)
    for (int k = 0; k < w0; ++k)
      for (int i = 0; i < N0; ++i)
        for (int pi = 0; pi < H; ++pi)
          A[sz(mu) * sz(w0 * N0) + sz(k * N0 + i)] += W[sz(pi * w0 + k)] * in.xt[sz((mu * H + pi) * N0 + i)] * s;
  // Σ = σ0² A Aᵀ + Temp I, log N(y; 0, Σ) up to −P/2 log 2π; 5×5 Cholesky by hand.
  std::vector<double> S(sz(P * P), 0.0);
  for (std::int64_t a = 0; a < P; ++a)
    for (std::int64_t b = 0; b < P; ++b) {
      double v = a == b ? Temp : 0.0;
      for (int j = 0; j < w0 * N0; ++j) v += shape.variances[0] * A[sz(a) * sz(w0 * N0) + sz(j)] * A[sz(b) * sz(w0 * N0) + sz(j)];
      S[sz(a * P + b)] = v;
    }
  std::vector<double> Lc(S.size(), 0.0);
  for (std::int64_t i = 0; i < P; ++i)
    for (std::int64_t j = 0; j <= i; ++j) {
      double v = S[sz(i * P + j)];
      for (std::int64_t k = 0; k < j; ++k) v -= Lc[sz(i * P + k)] * Lc[sz(j * P + k)];
      Lc[sz(i * P + j)] = i == j ? std::sqrt(v) : v / Lc[sz(j * P + j)];
    }
  std::vector<double> z(sz(P));
  double logdet = 0, quad = 0;
  for (std::int64_t i = 0; i < P; ++i) {
    double v = in.y[sz(i)];
    for (std::int64_t k = 0; k < i; ++k) v -= Lc[sz(i * P + k)] * z[sz(k)];
    z[sz(i)] = v / Lc[sz(i * P + i)];
    quad += z[sz(i)] * z[sz(i)];
    logdet += 2 * std::log(Lc[sz(i * P + i)]);
  }
  double prior = 0;
  for (std::size_t i = sz(shape.v0_size()); i < full.size(); ++i)
    prior -= full[i] * full[i] / (2 * shape.prior_variance(static_cast<std::int64_t>(i)));
  EXPECT_NEAR(post.evaluate(theta.data(), g.data()), -0.5 * logdet - 0.5 * quad + prior, 1e-10);
}

TEST(Posterior, ShardCountInvariantToTheBit) {
  // The group of all ranks (K = world size) and every rank alone (K = 1) give identical bits.
  const Comm& world = test::world();
  const Architecture shape = make_shape(6, {2, 2}, {5, 4, 3}, {1, 1, 1, 1});
  const std::int64_t P = 37;
  Comm self = world.split(world.rank(), 0);
  ExampleBlocks b1(P, 16, self), bK(P, 16, world);
  JointPosterior p1(shape, 0.05, synthetic_inputs(P, 4, 6, b1.local()), b1);
  JointPosterior pK(shape, 0.05, synthetic_inputs(P, 4, 6, bK.local()), bK);
  RandomStream rng(3, rng_domain::test, 3);
  const auto theta = random_vector(sz(shape.size()), rng);
  std::vector<double> g1(theta.size()), gK(theta.size());
  const double l1 = p1.evaluate(theta.data(), g1.data());
  const double lK = pK.evaluate(theta.data(), gK.data());
  EXPECT_EQ(l1, lK);
  for (std::size_t i = 0; i < g1.size(); ++i) ASSERT_EQ(g1[i], gK[i]) << "coordinate " << i;
  // Also through redistribute_rows from an arbitrary (block_range) split.
  const Range r = block_range(P, world.rank(), world.size());
  PathInputs moved = redistribute_rows(synthetic_inputs(P, 4, 6, r), bK.local(), world);
  const PathInputs direct = synthetic_inputs(P, 4, 6, bK.local());
  EXPECT_EQ(moved.xt, direct.xt);
  EXPECT_EQ(moved.y, direct.y);
}

TEST(Posterior, MarginalMatchesTheSerialImplementationItReplaced) {
  // Values of the sampler's own serial kernel (explicit K_T^{-1}, before the marginal targets used
  // kernels/), saved here: the log density, its gradient and one observed draw agree to round-off.
  struct Reference {
    MarginalPosterior::Coordinates coordinates;
    double log_density, grad_sum, grad_sq, grad_first, U_sum, u_sum;
  };
  const Reference refs[] = {
      {MarginalPosterior::Coordinates::weights, -98.218616318920638, 8.8966275696859789, 1336.028528331336,
       -0.30962370893097846, 1.6061300885044389, 1.3662695185391329},
      {MarginalPosterior::Coordinates::path_weights, -87.946311387751066, 14.314920395268794, 3584.253240270682,
       -21.988048597357967, 0.73392810275426812, 0.57357011213200837},
  };
  const Architecture shape = make_shape(5, {2, 3}, {8, 6, 6}, {1.5, 0.8, 1.2, 0.9});
  const std::int64_t P = 17;
  for (const KernelForm form : {KernelForm::automatic, KernelForm::path_pairs, KernelForm::primal, KernelForm::dual})
  for (const Reference& ref : refs) {
    SCOPED_TRACE(to_string(form));
    MarginalPosterior post(shape, 0.05, synthetic_inputs(P, shape.paths(), 5, {0, P}), ref.coordinates, form);
    if (form == KernelForm::automatic) {
      EXPECT_EQ(post.kernel_form(), KernelForm::path_pairs);
    }
    RandomStream rng(3, rng_domain::test, 4);
    const auto theta = random_vector(sz(post.dimension()), rng, 0.8);
    std::vector<double> g(theta.size());
    const double lp = post.evaluate(theta.data(), g.data());
    double gs = 0, gq = 0;
    for (double v : g) {
      gs += v;
      gq += v * v;
    }
    const int H = shape.paths();
    std::vector<double> U(sz(H * H)), u(sz(H * 5));
    RandomStream draw(5, rng_domain::test, 6);
    post.observe(theta.data(), draw, U.data(), u.data());
    double Us = 0, us = 0;
    for (double v : U) Us += v;
    for (double v : u) us += v;
    EXPECT_NEAR(lp, ref.log_density, 1e-10 * std::abs(ref.log_density));
    EXPECT_NEAR(gs, ref.grad_sum, 1e-9 * std::sqrt(ref.grad_sq));
    EXPECT_NEAR(gq, ref.grad_sq, 1e-10 * ref.grad_sq);
    EXPECT_NEAR(g[0], ref.grad_first, 1e-9 * std::sqrt(ref.grad_sq));
    EXPECT_NEAR(Us, ref.U_sum, 1e-12 * (1 + std::abs(ref.U_sum)));
    EXPECT_NEAR(us, ref.u_sum, 1e-9 * (1 + std::abs(ref.u_sum)));
  }
}
