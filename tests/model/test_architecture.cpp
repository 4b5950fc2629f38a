// The one description of the network (model/architecture.hpp): its one check, the conversion from whole
// widths, and the layout of θ against a count written out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/model/architecture.hpp"

using namespace attnpaths;

TEST(Architecture, NetworkLayoutCountsEveryWeight) {
  // N0 = 5, heads [2, 3], widths [4, 3, 6]: V0 4·5, V_1^h 2 × 3·4, V_2^h 3 × 6·3, a 6.
  const Architecture arch = Architecture::network(5, {2, 3}, {4, 3, 6}, {1.5, 0.8, 1.2, 0.9});
  arch.validate(true);
  EXPECT_EQ(arch.paths(), 6);
  EXPECT_EQ(arch.order(1), 6);
  EXPECT_EQ(arch.order(2), 3);
  EXPECT_EQ(arch.whole_widths(), (std::vector<int>{4, 3, 6}));
  EXPECT_EQ(arch.v0_size(), 20);
  EXPECT_EQ(arch.layer_offset(1, 1), 20 + 12);
  EXPECT_EQ(arch.layer_offset(2, 0), 20 + 2 * 12);
  EXPECT_EQ(arch.readout_offset(), 20 + 2 * 12 + 3 * 18);
  EXPECT_EQ(arch.size(), 20 + 2 * 12 + 3 * 18 + 6);
  EXPECT_EQ(arch.prior_variance(19), 1.5);
  EXPECT_EQ(arch.prior_variance(20), 0.8);
  EXPECT_EQ(arch.prior_variance(arch.layer_offset(2, 2)), 1.2);
  EXPECT_EQ(arch.prior_variance(arch.size() - 1), 0.9);
  // The theory's names of the same network.
  EXPECT_EQ(arch.n(1), 4.0);
  EXPECT_EQ(arch.width_a(), 6.0);
  EXPECT_EQ(arch.sigma_sq(2), 1.2);
  EXPECT_EQ(arch.sigma_a_sq(), 0.9);
  EXPECT_EQ(arch.max_width(), 6.0);
}

TEST(Architecture, TheoryAcceptsRealWidthsANetworkDoesNot) {
  Architecture arch{0, {2, 2}, {15, 22.5, 30}, {1, 1, 1, 1}};  // w_l = ratio_l · N at N = 15
  EXPECT_NO_THROW(arch.validate());
  EXPECT_THROW(arch.validate(true), InputError);  // no N0, and w_1 is not whole
  arch.input_dim = 3;
  EXPECT_THROW(arch.validate(true), InputError);  // w_1 is not whole
  arch.widths[1] = 22;
  EXPECT_NO_THROW(arch.validate(true));
}

TEST(Architecture, ValidateNamesEachInconsistency) {
  const Architecture good = Architecture::network(4, {2}, {3, 3}, {1, 1, 1});
  EXPECT_NO_THROW(good.validate(true));
  auto broken = [&](auto change) {
    Architecture a = good;
    change(a);
    return a;
  };
  EXPECT_THROW(broken([](Architecture& a) { a.heads.clear(); }).validate(), InputError);
  EXPECT_THROW(broken([](Architecture& a) { a.heads = {0}; }).validate(), InputError);
  EXPECT_THROW(broken([](Architecture& a) { a.widths = {3}; }).validate(), InputError);
  EXPECT_THROW(broken([](Architecture& a) { a.widths = {3, 0}; }).validate(), InputError);
  EXPECT_THROW(broken([](Architecture& a) { a.variances = {1, 1}; }).validate(), InputError);
  EXPECT_THROW(broken([](Architecture& a) { a.variances = {1, -1, 1}; }).validate(), InputError);
  EXPECT_THROW(broken([](Architecture& a) { a.variances = {1, 1, std::nan("")}; }).validate(), InputError);
  EXPECT_THROW(broken([](Architecture& a) { a.input_dim = 0; }).validate(true), InputError);
  EXPECT_NO_THROW(broken([](Architecture& a) { a.input_dim = 0; }).validate());
}
