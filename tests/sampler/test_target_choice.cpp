// sampler/target_choice: the --target auto cost model against the measurements it was fitted to
// (docs/sampling.md) and the choices they imply.
#include <gtest/gtest.h>

#include <cmath>

#include "attnpaths/sampler/target_choice.hpp"

using namespace attnpaths;

namespace {
Architecture shape_of(int N0, std::vector<int> heads, int N) {
  Architecture s;
  s.input_dim = N0;
  s.heads = heads;
  s.widths.assign(heads.size() + 1, N);
  s.variances.assign(heads.size() + 2, 1.0);
  return s;
}
const TargetCost& cost_of(const std::vector<TargetCost>& costs, const std::string& target) {
  for (const auto& c : costs)
    if (c.target == target) return c;
  throw std::runtime_error("no target " + target);
}
}  // namespace

// CPU s per gradient measured by bench_sampler (1 thread): the model is within a factor 1.6 of each.
TEST(TargetChoice, ModelMatchesMeasuredGradientCosts) {
  struct Case {
    int N0;
    std::vector<int> heads;
    int N;
    std::int64_t P;
    const char* target;
    double measured;
  };
  const Case cases[] = {
      {231, {2, 2}, 10, 100, "joint", 64e-6},         {231, {2, 2}, 10, 100, "path-weights", 84e-6},
      {231, {2, 2}, 10, 100, "v0-marginal", 89e-6},   {231, {2, 2}, 1000, 100, "path-weights", 116e-6},
      {231, {2, 2}, 1000, 100, "joint", 9.2e-3},      {192, {4, 4}, 10, 600, "joint", 1.29e-3},
      {192, {4, 4}, 10, 600, "path-weights", 30.8e-3}, {192, {4, 4}, 500, 600, "joint", 7.4e-3},
      {192, {4, 4}, 500, 600, "path-weights", 28.4e-3},
  };
  for (const Case& c : cases) {
    const auto costs = target_costs(shape_of(c.N0, c.heads, c.N), c.P, 1.0, 10);
    const double model = cost_of(costs, c.target).seconds_per_gradient;
    EXPECT_LT(std::abs(std::log(model / c.measured)), std::log(1.6)) << c.target << " N = " << c.N << " P = " << c.P;
  }
}

TEST(TargetChoice, PicksTheMeasuredCheapest) {
  // Markov task (P = 100, 4 paths), Temp = 0.01: path-weights (64–84 ESS per CPU s against joint's 4).
  EXPECT_EQ(automatic_target(shape_of(231, {2, 2}, 10), 100, 0.01, 10), "path-weights");
  EXPECT_EQ(automatic_target(shape_of(231, {2, 2}, 1000), 100, 0.01, 10), "path-weights");
  // Image task (P = 600, 16 paths) at N = 10, Temp = 1: joint (the acceptance run: 255 leapfrogs, 0.72 ESS per
  // draw at 1.3 ms per gradient, against ~31 ms per gradient of the marginal targets).
  EXPECT_EQ(automatic_target(shape_of(192, {4, 4}, 10), 600, 1.0, 10), "joint");
  // ... at N = 500 the joint gradient carries 2·10⁶ weights: path-weights.
  EXPECT_EQ(automatic_target(shape_of(192, {4, 4}, 500), 600, 1.0, 10), "path-weights");
  // The joint target's trees grow as Temp falls (its V0 stiffens), the marginal targets' do not.
  const auto warm = target_costs(shape_of(192, {4, 4}, 10), 600, 1.0, 10);
  const auto cold = target_costs(shape_of(192, {4, 4}, 10), 600, 0.1, 10);
  EXPECT_GT(cost_of(cold, "joint").gradients_per_effective_draw, 3 * cost_of(warm, "joint").gradients_per_effective_draw);
  EXPECT_EQ(cost_of(cold, "path-weights").gradients_per_effective_draw,
            cost_of(warm, "path-weights").gradients_per_effective_draw);
  // Large P: the marginal targets' O(P³) loses.
  EXPECT_EQ(automatic_target(shape_of(231, {2, 2}, 10), 5000, 0.01, 10), "joint");
}

TEST(TargetChoice, PathWeightsOnlyWhereTheyApply) {
  // Layer 1 of a 2-layer network with 4 heads in layer 2 needs w1 ≥ 4.
  const Architecture narrow = shape_of(8, {2, 4}, 3);
  EXPECT_FALSE(path_weights_apply(narrow));
  const auto costs = target_costs(narrow, 50, 0.01, 10);
  ASSERT_EQ(costs.size(), 2u);
  EXPECT_EQ(automatic_target(narrow, 50, 0.01, 10), "v0-marginal");
  EXPECT_TRUE(path_weights_apply(shape_of(8, {2, 4}, 4)));
  // The depth limit caps the joint target's modelled trees: 2^max_depth gradients per draw at most.
  const auto capped = cost_of(target_costs(shape_of(8, {2, 2}, 4), 50, 1e-6, 6), "joint");
  EXPECT_NEAR(capped.gradients_per_effective_draw, 64 / 0.6, 1e-9);
}
