// Attention-path inputs (docs/model.md §1.3) against a brute-force forward product of the full
// matrices, x̃_π = x Ω^{1,h1} ⋯ Ω^{L-1,h_{L-1}} ω^{L,h_L}, with an explicitly nested path loop
// (layer-1 head slowest), for L = 1, 2, 3 and unequal H_l; plus a hand-built case whose paths are
// one-hot so the ordering is visible.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <vector>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/model/attention.hpp"
#include "attnpaths/data/markov.hpp"
#include "attnpaths/model/path_inputs.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

using Matrix = std::vector<double>;  // row-major T×T, [s][t] = key s, query t

std::vector<double> normals(std::size_t n, std::uint64_t index, double scale = 1.0) {
  RandomStream rng(77, rng_domain::test, index);
  std::vector<double> v(n);
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

AttentionLayer random_layer(AttentionStyle style, int heads, int N0, std::uint64_t index) {
  AttentionLayer l;
  l.style = style;
  l.heads = heads;
  if (style == AttentionStyle::w) {
    l.w = normals(static_cast<std::size_t>(heads * N0 * N0), index, 0.5);
  } else {
    l.qk_dim = 3;
    l.q = normals(static_cast<std::size_t>(heads * 3 * N0), index, 0.6);
    l.k = normals(static_cast<std::size_t>(heads * 3 * N0), index + 500, 0.6);
  }
  return l;
}

// Naive softmax/hardmax attention of one head (independent of the library).
Matrix naive_omega(const AttentionLayer& layer, int h, Nonlinearity nl, const double* x, int T, int N0) {
  Matrix a(static_cast<std::size_t>(T * T));
  for (int s = 0; s < T; ++s)
    for (int t = 0; t < T; ++t) {
      double acc = 0;
      if (layer.style == AttentionStyle::w) {
        for (int i = 0; i < N0; ++i)
          for (int j = 0; j < N0; ++j) acc += x[s * N0 + i] * layer.w[static_cast<std::size_t>((h * N0 + i) * N0 + j)] * x[t * N0 + j];
      } else {
        const int G = layer.qk_dim;
        for (int g = 0; g < G; ++g) {
          double ks = 0, qt = 0;
          for (int i = 0; i < N0; ++i) {
            ks += layer.k[static_cast<std::size_t>((h * G + g) * N0 + i)] * x[s * N0 + i];
            qt += layer.q[static_cast<std::size_t>((h * G + g) * N0 + i)] * x[t * N0 + i];
          }
          acc += ks * qt / std::sqrt(static_cast<double>(G));
        }
      }
      a[static_cast<std::size_t>(s * T + t)] = acc;
    }
  for (int t = 0; t < T; ++t) {
    if (nl == Nonlinearity::hardmax) {
      int arg = 0;
      for (int s = 1; s < T; ++s)
        if (a[static_cast<std::size_t>(s * T + t)] > a[static_cast<std::size_t>(arg * T + t)]) arg = s;
      for (int s = 0; s < T; ++s) a[static_cast<std::size_t>(s * T + t)] = s == arg;
      continue;
    }
    double z = 0;
    for (int s = 0; s < T; ++s) z += std::exp(a[static_cast<std::size_t>(s * T + t)]);
    for (int s = 0; s < T; ++s) a[static_cast<std::size_t>(s * T + t)] = std::exp(a[static_cast<std::size_t>(s * T + t)]) / z;
  }
  return a;
}

// Brute force: forward product of full matrices for every path, enumerated by nested loops
// h_1 (outermost) … h_L (innermost) with a running counter = the expected flattened index.
std::vector<double> brute_force_weights(const AttentionSpec& spec, const double* x, int T, int N0) {
  const int L = spec.depth();
  std::vector<std::vector<Matrix>> om(static_cast<std::size_t>(L));
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < spec.layers[static_cast<std::size_t>(l)].heads; ++h)
      om[static_cast<std::size_t>(l)].push_back(naive_omega(spec.layers[static_cast<std::size_t>(l)], h, spec.nonlinearity, x, T, N0));
  std::vector<double> a;
  std::vector<int> path(static_cast<std::size_t>(L));
  std::function<void(int)> walk = [&](int l) {
    if (l == L) {
      // M = Ω^{1,h1} ⋯ Ω^{L-1,h_{L-1}} (T×T), then a = M ω^{L,h_L}.
      Matrix M(static_cast<std::size_t>(T * T), 0.0);
      for (int i = 0; i < T; ++i) M[static_cast<std::size_t>(i * T + i)] = 1.0;
      for (int k = 0; k + 1 < L; ++k) {
        const Matrix& B = om[static_cast<std::size_t>(k)][static_cast<std::size_t>(path[static_cast<std::size_t>(k)])];
        Matrix C(static_cast<std::size_t>(T * T), 0.0);
        for (int i = 0; i < T; ++i)
          for (int j = 0; j < T; ++j)
            for (int m = 0; m < T; ++m) C[static_cast<std::size_t>(i * T + j)] += M[static_cast<std::size_t>(i * T + m)] * B[static_cast<std::size_t>(m * T + j)];
        M = C;
      }
      const Matrix& last = om[static_cast<std::size_t>(L - 1)][static_cast<std::size_t>(path[static_cast<std::size_t>(L - 1)])];
      std::vector<double> omega(static_cast<std::size_t>(T), 0.0);
      for (int s = 0; s < T; ++s)
        for (int t = 0; t < T; ++t) {
          const double w = last[static_cast<std::size_t>(s * T + t)];
          if (spec.readout == Readout::last_token && t == T - 1) omega[static_cast<std::size_t>(s)] = w;
          if (spec.readout == Readout::first_token && t == 0) omega[static_cast<std::size_t>(s)] = w;
          if (spec.readout == Readout::mean) omega[static_cast<std::size_t>(s)] += w / T;
        }
      for (int i = 0; i < T; ++i) {
        double acc = 0;
        for (int j = 0; j < T; ++j) acc += M[static_cast<std::size_t>(i * T + j)] * omega[static_cast<std::size_t>(j)];
        a.push_back(acc);
      }
      return;
    }
    for (int h = 0; h < spec.layers[static_cast<std::size_t>(l)].heads; ++h) {
      path[static_cast<std::size_t>(l)] = h;
      walk(l + 1);
    }
  };
  walk(0);
  return a;
}

AttentionSpec random_spec(const std::vector<int>& heads, Readout readout, Nonlinearity nl, int N0, std::uint64_t index) {
  AttentionSpec spec;
  spec.readout = readout;
  spec.nonlinearity = nl;
  for (std::size_t l = 0; l < heads.size(); ++l)
    spec.layers.push_back(random_layer(l % 2 ? AttentionStyle::qk : AttentionStyle::w, heads[l], N0, index + 10 * l));
  return spec;
}

// Example set whose rows depend only on the global example index (rank-count independent).
ExampleSet random_set(std::int64_t count, int T, int N0, const Comm& comm) {
  ExampleSet set;
  set.name = "train";
  set.count = count;
  set.local = block_range(count, comm.rank(), comm.size());
  for (std::int64_t mu = set.local.begin; mu < set.local.end; ++mu) {
    const auto x = normals(static_cast<std::size_t>(T * N0), 100000 + static_cast<std::uint64_t>(mu));
    set.x.insert(set.x.end(), x.begin(), x.end());
    set.y.push_back(mu % 2 ? 1.0 : -1.0);
  }
  return set;
}

}  // namespace

TEST(PathInputs, MatchBruteForceForOneTwoThreeLayers) {
  const int T = 6, N0 = 5;
  const std::vector<std::vector<int>> shapes{{3}, {2, 3}, {3, 1, 2}, {2, 2, 2}};
  std::uint64_t index = 1;
  for (const auto& heads : shapes)
    for (auto readout : {Readout::last_token, Readout::first_token, Readout::mean})
      for (auto nl : {Nonlinearity::softmax, Nonlinearity::hardmax}) {
        const AttentionSpec spec = random_spec(heads, readout, nl, N0, index += 100);
        const int P = spec.paths();
        const ExampleSet set = random_set(13, T, N0, test::world());
        const PathInputs pin = compute_path_inputs(set, spec, T, N0);
        ASSERT_EQ(pin.paths, P);
        ASSERT_EQ(pin.dim, N0);
        ASSERT_EQ(pin.local.begin, set.local.begin);
        ASSERT_EQ(pin.xt.size(), static_cast<std::size_t>(set.local.size() * P * N0));
        EXPECT_EQ(pin.y, set.y);
        for (std::int64_t mu = 0; mu < set.local.size(); ++mu) {
          const double* x = set.x.data() + mu * T * N0;
          const auto ref = brute_force_weights(spec, x, T, N0);
          std::vector<double> a(static_cast<std::size_t>(P * T));
          path_token_weights(spec, x, T, N0, a.data());
          for (int pi = 0; pi < P; ++pi) {
            double sum = 0;
            for (int s = 0; s < T; ++s) {
              ASSERT_NEAR(a[static_cast<std::size_t>(pi * T + s)], ref[static_cast<std::size_t>(pi * T + s)], 1e-12)
                  << "heads " << heads.size() << " path " << pi << " token " << s;
              sum += a[static_cast<std::size_t>(pi * T + s)];
            }
            EXPECT_NEAR(sum, 1.0, 1e-12);  // products of column-stochastic matrices keep the sum
            for (int i = 0; i < N0; ++i) {
              double xt = 0;
              for (int s = 0; s < T; ++s) xt += ref[static_cast<std::size_t>(pi * T + s)] * x[s * N0 + i];
              ASSERT_NEAR(pin.row(mu)[pi * N0 + i], xt, 1e-12) << "example " << set.local.begin + mu << " path " << pi;
            }
          }
        }
      }
}

// Hand-built hardmax heads on one-hot position tokens (x_s = e_s, N0 = T):
//   layer 1: head 0 = "self" (query t → key t), head 1 = "previous" (t → t−1; 0 → 0);
//   layer 2 (last_token readout, query T−1): head 0 = "self" (→ T−1), head 1 = "→ key 1".
// a_π = Ω^{1,h1} ω^{2,h2}, so (0,0) → e_{T−1}, (0,1) → e_1, (1,0) → e_{T−2}, (1,1) → e_0, and the
// flattened order with layer-1 slowest is π = 2·h1 + h2.
TEST(PathInputs, PathOrderingIsRowMajorWithLayerOneSlowest) {
  const int T = 5, N0 = T;
  auto pos_head = [&](const std::function<int(int)>& key_of_query) {
    std::vector<double> w(static_cast<std::size_t>(N0 * N0), 0.0);
    for (int t = 0; t < T; ++t) w[static_cast<std::size_t>(key_of_query(t) * N0 + t)] = 1.0;
    return w;
  };
  AttentionSpec spec;
  spec.readout = Readout::last_token;
  spec.nonlinearity = Nonlinearity::hardmax;
  AttentionLayer l1, l2;
  l1.heads = l2.heads = 2;
  l1.w = pos_head([](int t) { return t; });
  const auto prev = pos_head([](int t) { return t > 0 ? t - 1 : 0; });
  l1.w.insert(l1.w.end(), prev.begin(), prev.end());
  l2.w = pos_head([](int t) { return t; });
  const auto one = pos_head([](int) { return 1; });
  l2.w.insert(l2.w.end(), one.begin(), one.end());
  spec.layers = {l1, l2};

  std::vector<double> x(static_cast<std::size_t>(T * N0), 0.0);
  for (int s = 0; s < T; ++s) x[static_cast<std::size_t>(s * N0 + s)] = 1.0;
  std::vector<double> a(static_cast<std::size_t>(4 * T));
  path_token_weights(spec, x.data(), T, N0, a.data());
  const int expected_key[4] = {T - 1, 1, T - 2, 0};
  for (int pi = 0; pi < 4; ++pi) {
    EXPECT_EQ(spec.head_on_path(pi, 0), pi / 2);
    EXPECT_EQ(spec.head_on_path(pi, 1), pi % 2);
    for (int s = 0; s < T; ++s) EXPECT_EQ(a[static_cast<std::size_t>(pi * T + s)], s == expected_key[pi] ? 1.0 : 0.0) << "path " << pi;
  }
}

// More examples than one BLAS block (the block boundary must not matter), compared per example
// with path_token_weights; the sharded result also equals a recomputation of the same rows alone.
TEST(PathInputs, BlocksAndShardsDoNotChangeTheResult) {
  const int T = 6, N0 = 5;
  const AttentionSpec spec = random_spec({2, 3}, Readout::last_token, Nonlinearity::softmax, N0, 4242);
  const ExampleSet set = random_set(1601, T, N0, test::world());
  const PathInputs pin = compute_path_inputs(set, spec, T, N0);
  std::vector<double> a(static_cast<std::size_t>(spec.paths() * T));
  double worst = 0;
  for (std::int64_t mu = 0; mu < set.local.size(); ++mu) {
    const double* x = set.x.data() + mu * T * N0;
    path_token_weights(spec, x, T, N0, a.data());
    for (int pi = 0; pi < spec.paths(); ++pi)
      for (int i = 0; i < N0; ++i) {
        double xt = 0;
        for (int s = 0; s < T; ++s) xt += a[static_cast<std::size_t>(pi * T + s)] * x[s * N0 + i];
        worst = std::max(worst, std::abs(pin.row(mu)[pi * N0 + i] - xt));
      }
  }
  EXPECT_LT(worst, 1e-13);
  // Gathered over the ranks, the result equals a 1-rank computation of the whole set bit for bit
  // (the sampler's draws are then independent of the shard count).
  const auto all = test::world().allgather_blocks(pin.xt);
  ASSERT_EQ(all.size(), static_cast<std::size_t>(1601 * spec.paths() * N0));
  Comm self = test::world().split(test::world().rank(), 0);
  ExampleSet whole = random_set(1601, T, N0, self);
  const PathInputs alone = compute_path_inputs(whole, spec, T, N0);
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], alone.xt[i]) << "entry " << i;
}

// The batches run on OpenMP threads with the BLAS serial inside (one threading layer): the result is
// the same to the bit on 1, 2 and 3 threads, and an error in a thread's batch (weights of the wrong
// shape: more heads than weights) reaches the caller as its exception.
TEST(PathInputs, ThreadCountDoesNotChangeTheResult) {
  const int T = 6, N0 = 5, threads = omp_get_max_threads();
  const AttentionSpec spec = random_spec({2, 3}, Readout::last_token, Nonlinearity::softmax, N0, 4243);
  const ExampleSet set = random_set(2000, T, N0, test::world());  // several batches on every rank
  omp_set_num_threads(1);
  const PathInputs one = compute_path_inputs(set, spec, T, N0);
  for (int n : {2, 3}) {
    omp_set_num_threads(n);
    const PathInputs many = compute_path_inputs(set, spec, T, N0);
    ASSERT_EQ(many.xt.size(), one.xt.size());
    for (std::size_t i = 0; i < one.xt.size(); ++i) ASSERT_EQ(many.xt[i], one.xt[i]) << n << " threads, entry " << i;
  }
  AttentionSpec bad = spec;
  bad.layers[1].heads += 1;  // more heads than weights
  EXPECT_THROW(compute_path_inputs(set, bad, T, N0), InputError);
  omp_set_num_threads(threads);
}

TEST(PathInputs, RejectsInconsistentInput) {
  const int T = 4, N0 = 3;
  AttentionSpec empty;
  ExampleSet set = random_set(8, T, N0, test::world());  // at least one row on every rank
  EXPECT_THROW(compute_path_inputs(set, empty, T, N0), InputError);
  const AttentionSpec spec = random_spec({2}, Readout::mean, Nonlinearity::softmax, N0, 9);
  EXPECT_THROW(compute_path_inputs(set, spec, T, N0 + 1), InputError);
}

// The Markov task's hand-built "w" heads at its default size (N0 = 231, T + 1 = 31): path inputs of a
// sharded set equal the 1-rank computation bit for bit, whatever the rank count (issue 8, item 6).
TEST(PathInputs, MarkovShardsEqualOneRankToTheBit) {
  MarkovOptions o;
  o.train_examples = 100;
  o.test_examples = 2;
  const Dataset sharded = generate_markov(o, test::world());
  Comm self = test::world().split(test::world().rank(), 0);
  const Dataset whole = generate_markov(o, self);
  const int T = sharded.tokens, N0 = sharded.token_dim;
  const PathInputs pin = compute_path_inputs(sharded.train, sharded.attention, T, N0);
  const PathInputs alone = compute_path_inputs(whole.train, whole.attention, T, N0);
  const auto all = test::world().allgather_blocks(pin.xt);
  ASSERT_EQ(all.size(), alone.xt.size());
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], alone.xt[i]) << "entry " << i;
}
