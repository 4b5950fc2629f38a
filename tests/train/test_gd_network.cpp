// The GD network (train/gd_network.hpp): path-factorised forward vs a literal per-token forward pass
// (as the PyTorch module computes it), analytic gradient vs central finite differences of that literal
// loss, head removal, and training that gives the same weights on 1, 2 and 4 ranks.
#include <gtest/gtest.h>

#include <cmath>

#include "attnpaths/core/index.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/train/trainer.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

using attnpaths::sz;

GdShape tiny(int layers, int heads, Readout readout) {
  GdShape s;
  s.tokens = 5;
  s.input_dim = 4;
  s.width = 3;
  s.qk_dim = 2;
  s.heads = heads;
  s.layers = layers;
  s.readout = readout;
  return s;
}

// The literal network: per-token V0, per-layer attention from x, z^l_t = c_l Σ_{h kept} V Σ_s z_s Ω_st,
// readout over the last layer's tokens, f = a·z. `removed[l][h]` drops a head (c_l = (H − d_l)^{-1/2}).
double literal_forward(const GdShape& g, const std::vector<double>& th, const double* x,
                       const std::vector<std::vector<bool>>& removed) {
  const int T = g.tokens, N0 = g.input_dim, w = g.width, G = g.qk_dim, H = g.heads;
  const Architecture vs = g.value_shape();
  std::vector<std::vector<double>> z(sz(T), std::vector<double>(sz(w), 0.0));
  for (int s = 0; s < T; ++s)
    for (int i = 0; i < w; ++i)
      for (int j = 0; j < N0; ++j) z[sz(s)][sz(i)] += th[sz(i * N0 + j)] * x[s * N0 + j];
  for (int l = 1; l <= g.layers; ++l) {
    int kept = 0;
    for (int h = 0; h < H; ++h) kept += removed[sz(l - 1)][sz(h)] ? 0 : 1;
    std::vector<std::vector<double>> out(sz(T), std::vector<double>(sz(w), 0.0));
    for (int h = 0; h < H; ++h) {
      if (removed[sz(l - 1)][sz(h)]) continue;
      const double* Q = th.data() + g.q_offset(l, h);
      const double* K = th.data() + g.k_offset(l, h);
      const double* V = th.data() + vs.layer_offset(l, h);
      std::vector<double> kx(sz(T * G), 0.0), qx(sz(T * G), 0.0), om(sz(T * T));
      for (int s = 0; s < T; ++s)
        for (int a = 0; a < G; ++a)
          for (int j = 0; j < N0; ++j) {
            kx[sz(s * G + a)] += K[a * N0 + j] * x[s * N0 + j];
            qx[sz(s * G + a)] += Q[a * N0 + j] * x[s * N0 + j];
          }
      for (int t = 0; t < T; ++t) {
        double norm = 0;
        for (int s = 0; s < T; ++s) {
          double a = 0;
          for (int b = 0; b < G; ++b) a += kx[sz(s * G + b)] * qx[sz(t * G + b)];
          om[sz(s * T + t)] = std::exp(a / std::sqrt(double(G)));
          norm += om[sz(s * T + t)];
        }
        for (int s = 0; s < T; ++s) om[sz(s * T + t)] /= norm;
      }
      for (int t = 0; t < T; ++t)
        for (int s = 0; s < T; ++s)
          for (int i = 0; i < w; ++i)
            for (int j = 0; j < w; ++j)
              out[sz(t)][sz(i)] += V[i * w + j] * z[sz(s)][sz(j)] * om[sz(s * T + t)] / std::sqrt(double(kept));
    }
    z = out;
  }
  std::vector<double> r(sz(w), 0.0);
  for (int t = 0; t < T; ++t) {
    const bool use = g.readout == Readout::mean || (g.readout == Readout::last_token ? t == T - 1 : t == 0);
    const double weight = g.readout == Readout::mean ? 1.0 / T : 1.0;
    if (use)
      for (int i = 0; i < w; ++i) r[sz(i)] += weight * z[sz(t)][sz(i)];
  }
  double f = 0;
  for (int i = 0; i < w; ++i) f += th[sz(vs.readout_offset() + i)] * r[sz(i)];
  return f;
}

std::vector<double> random_inputs(int count, const GdShape& g, std::uint64_t seed, std::vector<double>& y) {
  RandomStream rng(seed, rng_domain::test, 0);
  std::vector<double> x(sz(count) * sz(g.tokens * g.input_dim));
  for (double& v : x) v = rng.normal();
  y.resize(sz(count));
  for (double& v : y) v = rng.uniform() < 0.5 ? -1.0 : 1.0;
  return x;
}

std::vector<std::vector<bool>> none(const GdShape& g) {
  return std::vector<std::vector<bool>>(sz(g.layers), std::vector<bool>(sz(g.heads), false));
}

}  // namespace

TEST(GdNetwork, DefaultShapeHasThePapersParameterCount) {
  GdShape g;
  EXPECT_EQ(g.size(), 2589184);
  const auto th = initial_weights(tiny(2, 4, Readout::mean), 3);
  const GdShape t = tiny(2, 4, Readout::mean);
  for (std::int64_t i = 0; i < t.value_shape().v0_size(); ++i) EXPECT_LE(std::abs(th[sz(i)]), 0.5);  // 1/√N0
  EXPECT_EQ(th, initial_weights(t, 3));
  EXPECT_NE(th, initial_weights(t, 4));
}

TEST(GdNetwork, PathFormEqualsLiteralForward) {
  for (const GdShape& g : {tiny(2, 2, Readout::mean), tiny(3, 2, Readout::last_token), tiny(1, 3, Readout::first_token),
                           tiny(2, 4, Readout::mean)}) {
    std::vector<double> y;
    const auto x = random_inputs(7, g, 11, y);
    const auto th = initial_weights(g, 5);
    GdNetwork<double> net(g);
    net.prepare(th.data(), path_coefficients(g));
    std::vector<double> f(7);
    net.forward(x.data(), 7, f.data());
    for (int mu = 0; mu < 7; ++mu) {
      const double ref = literal_forward(g, th, x.data() + mu * g.tokens * g.input_dim, none(g));
      EXPECT_NEAR(f[sz(mu)], ref, 1e-12 * (1 + std::abs(ref))) << "L=" << g.layers << " H=" << g.heads;
    }
  }
}

TEST(GdNetwork, HeadRemovalRescalesTheLayer) {
  const GdShape g = tiny(2, 4, Readout::mean);
  std::vector<double> y;
  const auto x = random_inputs(3, g, 12, y);
  const auto th = initial_weights(g, 6);
  GdNetwork<double> net(g);
  const std::vector<HeadRef> removed = {{1, 2}, {2, 0}, {2, 3}};
  auto mask = none(g);
  for (const auto& [l, h] : removed) mask[sz(l - 1)][sz(h)] = true;
  net.prepare(th.data(), path_coefficients(g, removed));
  std::vector<double> f(3);
  net.forward(x.data(), 3, f.data());
  for (int mu = 0; mu < 3; ++mu)
    EXPECT_NEAR(f[sz(mu)], literal_forward(g, th, x.data() + mu * g.tokens * g.input_dim, mask), 1e-12);
  EXPECT_THROW(path_coefficients(g, {{1, 0}, {1, 1}, {1, 2}, {1, 3}}), InputError);
  EXPECT_THROW(path_coefficients(g, {{3, 0}}), InputError);
  EXPECT_THROW(path_coefficients(g, {{1, 0}, {1, 0}}), InputError);
}

// Analytic ∂(MSE)/∂θ (every weight: V0, V, a, Q, K) vs central differences of the literal loss.
TEST(GdNetwork, GradientMatchesFiniteDifferences) {
  const Comm& world = test::world();
  for (const GdShape& g : {tiny(2, 2, Readout::mean), tiny(3, 2, Readout::last_token)}) {
    const int B = 6;
    std::vector<double> y;
    const auto x = random_inputs(B, g, 13, y);
    Trainer<double> trainer(g, AdamOptions{}, B, 8, world);
    TrainState st;
    st.theta = initial_weights(g, 7);
    for (double& v : st.theta) v *= 3.0;  // away from the small-weight regime
    st.adam_m.assign(st.theta.size(), 0.0);
    st.adam_v.assign(st.theta.size(), 0.0);
    trainer.set_state(st);
    AlignedVector<double> grad;
    trainer.gradient(x.data(), y.data(), grad);
    auto loss = [&](const std::vector<double>& th) {
      double sum = 0;
      for (int mu = 0; mu < B; ++mu) {
        const double e = literal_forward(g, th, x.data() + mu * g.tokens * g.input_dim, none(g)) - y[sz(mu)];
        sum += e * e;
      }
      return sum / B;
    };
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < st.theta.size(); ++i) {
      const double h = 1e-5;
      auto p = st.theta, m = st.theta;
      p[i] += h;
      m[i] -= h;
      const double fd = (loss(p) - loss(m)) / (2 * h);
      worst = std::max(worst, std::abs(fd - grad[i]));
      scale = std::max(scale, std::abs(fd));
    }
    if (world.is_root()) std::printf("L=%d: max |analytic − FD| = %.3g (max |grad| %.3g)\n", g.layers, worst, scale);
    EXPECT_LT(worst, 1e-7 * std::max(1.0, scale));
  }
}

// Training on 1 rank (self) and on every rank of the world give the same weights (round-off).
TEST(Trainer, SameWeightsOnAnyNumberOfRanks) {
  const Comm& world = test::world();
  const Comm self = Comm::view(MPI_COMM_SELF);
  const GdShape g = tiny(2, 2, Readout::mean);
  const SyntheticStream stream(g.tokens, g.input_dim, 9);
  AdamOptions adam;
  adam.lr = 1e-2;
  TrainState st;
  st.theta = initial_weights(g, 8);
  st.adam_m.assign(st.theta.size(), 0.0);
  st.adam_v.assign(st.theta.size(), 0.0);
  Trainer<double> one(g, adam, 12, 4, self), all(g, adam, 12, 4, world);
  one.set_state(st);
  all.set_state(st);
  double first = 0, last = 0;
  for (int s = 0; s < 300; ++s) {
    const double l1 = one.step(stream), lk = all.step(stream);
    EXPECT_NEAR(l1, lk, 1e-12 * (1 + l1));
    if (s < 20) first += l1;
    if (s >= 280) last += l1;
  }
  double worst = 0;
  for (std::size_t i = 0; i < one.theta().size(); ++i) worst = std::max(worst, std::abs(one.theta()[i] - all.theta()[i]));
  if (world.is_root()) std::printf("%d ranks vs 1: max |Δθ| = %.3g after 300 steps; loss %.3f → %.3f\n", world.size(), worst,
                                   first / 20, last / 20);
  EXPECT_LT(worst, 1e-10);
  EXPECT_LT(last, 0.8 * first);  // it learns
}
