// Predictor stability pieces (docs/robustness.md §4): the mean predictor's linear form against the
// kernel's own predictor, and each perturbation's defining property.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "attnpaths/core/error.hpp"
#include "attnpaths/data/markov.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"
#include "attnpaths/model/path_inputs.hpp"
#include "attnpaths/robustness/stability.hpp"
#include "synthetic.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

struct Fixture {
  Dataset data;
  PathInputs train, test;
  std::unique_ptr<RenormalizedKernel> kernel;
  ScoreMatrices scores;
  TokenMoments moments;
  std::vector<double> u;

  explicit Fixture(const Comm& comm) {
    MarkovOptions mo;
    mo.train_examples = 10;
    mo.test_examples = 8;
    mo.tokens = 6;
    mo.feature_dim = 8;
    mo.beta = 1.0;
    data = generate_markov(mo, comm);
    train = compute_path_inputs(data.train, data.attention, data.tokens, data.token_dim);
    test = compute_path_inputs(data.test, data.attention, data.tokens, data.token_dim);
    kernel = make_renormalized_kernel(KernelForm::automatic, train, 1.0, comm);
    kernel->factor(test::random_spd(data.attention.paths(), 3), 0.1);
    scores = ScoreMatrices::of(data.attention, data.token_dim);
    moments = TokenMoments::of(data.test, data.tokens, data.token_dim, comm);
    u = mean_predictor_weights(*kernel, data.attention.paths(), data.token_dim, comm);
  }
  PerturbationContext context() const {
    return {&data.attention, &scores, &moments, &u, data.tokens, data.token_dim, 5, 11};
  }
  // f̄ = Σ u·x̃ on the local rows of a set.
  std::vector<double> linear_mean(const ExampleSet& set) const {
    const PathInputs p = compute_path_inputs(set, data.attention, data.tokens, data.token_dim);
    std::vector<double> f(static_cast<std::size_t>(p.local_count()), 0.0);
    for (std::int64_t mu = 0; mu < p.local_count(); ++mu)
      for (std::size_t j = 0; j < u.size(); ++j) f[static_cast<std::size_t>(mu)] += u[j] * p.row(mu)[j];
    return f;
  }
};

}  // namespace

TEST(Stability, MeanPredictorWeightsReproduceTheKernelPredictorMean) {
  Fixture fx(test::world());
  const PredictorMoments m = fx.kernel->predict(fx.test);
  const std::vector<double> f = fx.linear_mean(fx.data.test);
  ASSERT_EQ(f.size(), m.mean.size());
  for (std::size_t i = 0; i < f.size(); ++i) EXPECT_NEAR(f[i], m.mean[i], 1e-10 * (1 + std::abs(m.mean[i])));
}

TEST(Stability, EachPerturbationHasItsDefiningProperty) {
  Fixture fx(test::world());
  const Comm& comm = test::world();
  const ExampleSet& x = fx.data.test;
  const int T = fx.data.tokens, N0 = fx.data.token_dim;
  const std::size_t per = static_cast<std::size_t>(T * N0);
  // gaussian: standard deviation ε on every entry
  const ExampleSet g = perturb(x, Perturbation::gaussian, 0.3, fx.context());
  std::vector<double> s{0, 0};
  for (std::size_t i = 0; i < x.x.size(); ++i) {
    s[0] += (g.x[i] - x.x[i]) * (g.x[i] - x.x[i]);
    s[1] += 1;
  }
  comm.sum(s);
  EXPECT_NEAR(std::sqrt(s[0] / s[1]), 0.3, 0.03);
  // replace: round(ε·T) tokens are redrawn; all but the BOS token (constant over the set, so its
  // redraw is itself) then differ from the original
  const ExampleSet r = perturb(x, Perturbation::replace, 0.5, fx.context());
  for (std::int64_t mu = 0; mu < x.local.size(); ++mu) {
    int changed = 0;
    for (int t = 0; t < T; ++t) {
      bool diff = false;
      for (int i = 0; i < N0; ++i) diff |= r.x[mu * per + t * N0 + i] != x.x[mu * per + t * N0 + i];
      changed += diff;
    }
    const int k = static_cast<int>(std::lround(0.5 * T));
    EXPECT_TRUE(changed == k || changed == k - 1) << changed << " tokens changed, " << k << " redrawn";
  }
  // adversarial: |δ| ≤ ε everywhere, and y·f̄ decreases for every example
  const ExampleSet a = perturb(x, Perturbation::adversarial, 0.05, fx.context());
  for (std::size_t i = 0; i < x.x.size(); ++i) EXPECT_LE(std::abs(a.x[i] - x.x[i]), 0.05 * (1 + 1e-12));
  const std::vector<double> f0 = fx.linear_mean(x), f1 = fx.linear_mean(a);
  for (std::size_t i = 0; i < f0.size(); ++i) EXPECT_LT(x.y[i] * f1[i], x.y[i] * f0[i]) << "example " << i;
  // ε = 0 leaves the set alone; bad sizes are input errors
  EXPECT_EQ(perturb(x, Perturbation::adversarial, 0.0, fx.context()).x, x.x);
  EXPECT_THROW(perturb(x, Perturbation::gaussian, -0.1, fx.context()), InputError);
  EXPECT_THROW(perturb(x, Perturbation::replace, 1.5, fx.context()), InputError);
  EXPECT_THROW(parse_perturbation("rotate"), InputError);
}
