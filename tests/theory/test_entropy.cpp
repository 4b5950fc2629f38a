// docs/model.md §3.3–3.5: the entropy at the GP point and the analytic gradient of S_ent.
#include <gtest/gtest.h>

#include "attnpaths/core/error.hpp"
#include "attnpaths/theory/order_parameters.hpp"
#include "synthetic.hpp"

using namespace attnpaths;

namespace {
Architecture make_arch(std::vector<int> heads, double width) {
  Architecture a;
  a.heads = std::move(heads);
  a.widths.assign(a.heads.size() + 1, width);
  a.variances.assign(a.heads.size() + 2, 1.0);
  return a;
}

// S_ent with U_a at its closed form (the quantity whose total derivative we check).
double total_entropy(const Architecture& arch, OrderParameters op) {
  op.Ua = closed_form_Ua(arch, op.U.back());
  return entropy(arch, op, nullptr);
}
}  // namespace

TEST(Entropy, GpPointIsSevenNForTwoLayersTwoHeads) {
  for (double N : {10.0, 100.0, 1000.0}) {
    const Architecture arch = make_arch({2, 2}, N);
    const OrderParameters gp = gp_point(arch);
    EXPECT_DOUBLE_EQ(gp.Ua, 1.0);
    EXPECT_NEAR(entropy(arch, gp, nullptr), 7.0 * N, 1e-9 * N);
  }
}

TEST(Entropy, GpPointGeneralFormula) {
  // S_ent/N = 1 + H_L + Σ_{l<L} Π_{k≥l} H_k  (all σ² = 1, equal widths)
  for (const std::vector<int>& heads : std::vector<std::vector<int>>{{1}, {3}, {2, 3}, {3, 1}, {2, 1, 3}, {2, 2, 2}}) {
    const double N = 37;
    const Architecture arch = make_arch(heads, N);
    const int L = static_cast<int>(heads.size());
    double expected = 1 + heads.back();
    for (int l = 1; l < L; ++l) expected += arch.order(l);
    EXPECT_NEAR(entropy(arch, gp_point(arch), nullptr), expected * N, 1e-9 * N) << "L = " << L;
  }
}

TEST(Entropy, GpPointIsStationaryForTheEntropyAlone) {
  Architecture arch = make_arch({2, 3}, 50);
  arch.variances = {1.3, 0.7, 2.0, 0.5};
  OrderParameters gp = gp_point(arch);
  std::vector<Eigen::MatrixXd> g;
  entropy(arch, gp, &g);
  for (const auto& m : g) EXPECT_LT(m.cwiseAbs().maxCoeff(), 1e-10);
}

TEST(Entropy, AnalyticGradientMatchesFiniteDifferences) {
  struct Case {
    std::vector<int> heads;
    std::vector<double> widths, variances;
  };
  const std::vector<Case> cases = {
      {{3}, {40, 25}, {1.2, 0.8, 1.5}},
      {{2, 3}, {30, 50, 20}, {0.9, 1.1, 0.7, 1.3}},
      {{2, 1, 2}, {15, 40, 25, 60}, {1.0, 0.6, 1.4, 0.9, 1.1}},
  };
  std::uint64_t seed = 1;
  for (const auto& c : cases) {
    Architecture arch;
    arch.heads = c.heads;
    arch.widths = c.widths;
    arch.variances = c.variances;
    arch.validate();
    OrderParameters op = test::random_order_parameters(arch, seed++);
    std::vector<Eigen::MatrixXd> g;
    entropy(arch, op, &g);
    for (int l = 0; l < arch.depth(); ++l) {
      const int d = arch.order(l + 1);
      for (int i = 0; i < d; ++i)
        for (int j = 0; j <= i; ++j) {
          const double h = 1e-5;
          OrderParameters plus = op, minus = op;
          plus.U[static_cast<size_t>(l)](i, j) += h;
          minus.U[static_cast<size_t>(l)](i, j) -= h;
          if (i != j) {
            plus.U[static_cast<size_t>(l)](j, i) += h;
            minus.U[static_cast<size_t>(l)](j, i) -= h;
          }
          const double fd = (total_entropy(arch, plus) - total_entropy(arch, minus)) / (2 * h);
          const double analytic = (i == j ? 1.0 : 2.0) * g[static_cast<size_t>(l)](i, j);
          EXPECT_NEAR(analytic, fd, 1e-6 * std::max(1.0, std::abs(fd)))
              << "L=" << arch.depth() << " U_" << l + 1 << "(" << i << "," << j << ")";
        }
    }
  }
}

TEST(Entropy, ClosedFormUaIsStationary) {
  Architecture arch = make_arch({2, 2}, 30);
  arch.widths = {30, 45, 20};
  arch.variances = {1, 1.5, 0.8, 1.2};
  OrderParameters op = test::random_order_parameters(arch, 9);
  const double ua = closed_form_Ua(arch, op.U.back());
  auto s = [&](double u) {
    OrderParameters o = op;
    o.Ua = u;
    return entropy(arch, o, nullptr);
  };
  const double h = 1e-6 * ua;
  EXPECT_NEAR((s(ua + h) - s(ua - h)) / (2 * h), 0.0, 1e-5 * arch.width_a());
  EXPECT_LT(s(ua), s(1.1 * ua));
  EXPECT_LT(s(ua), s(0.9 * ua));
}

TEST(Entropy, RejectsNonPositiveDefinite) {
  const Architecture arch = make_arch({2}, 10);
  OrderParameters op = gp_point(arch);
  op.U[0](0, 0) = -1;
  EXPECT_THROW(entropy(arch, op, nullptr), NumericalError);
}
