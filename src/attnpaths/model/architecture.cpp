#include "attnpaths/model/architecture.hpp"

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"

namespace attnpaths {

Architecture Architecture::network(int input_dim, std::vector<int> heads, const std::vector<int>& widths,
                                   std::vector<double> variances) {
  return Architecture{input_dim, std::move(heads), std::vector<double>(widths.begin(), widths.end()),
                      std::move(variances)};
}

void Architecture::validate(bool with_weights) const {
  const int L = depth();
  ATTN_REQUIRE(L >= 1, InputError, "network: at least one attention layer is needed (got L = {})", L);
  for (int h : heads) ATTN_REQUIRE(h >= 1, InputError, "network: every layer needs at least one head (got {})", h);
  ATTN_REQUIRE(static_cast<int>(widths.size()) == L + 1, InputError,
               "network: {} widths given; an L = {} network has widths w_0 … w_{} ({} values)", widths.size(), L, L,
               L + 1);
  for (double w : widths)
    ATTN_REQUIRE(w > 0 && std::isfinite(w), InputError, "network: widths must be positive (got {})", w);
  ATTN_REQUIRE(static_cast<int>(variances.size()) == L + 2, InputError,
               "network: {} prior variances given; an L = {} network has σ0², …, σ{}², σa² ({} values)",
               variances.size(), L, L, L + 2);
  for (double v : variances)
    ATTN_REQUIRE(v > 0 && std::isfinite(v), InputError, "network: prior variances must be positive and finite (got {})",
                 v);
  if (!with_weights) return;
  ATTN_REQUIRE(input_dim >= 1, InputError, "network: input dimension N0 = {} must be positive", input_dim);
  for (double w : widths)
    ATTN_REQUIRE(w == std::floor(w) && w <= 1e9, InputError, "network: a network's widths are whole numbers (got {})",
                 w);
}

int Architecture::paths() const {
  int n = 1;
  for (int h : heads) n *= h;
  return n;
}

int Architecture::order(int l) const {
  int n = 1;
  for (int k = l; k <= depth(); ++k) n *= heads[sz(k - 1)];
  return n;
}

double Architecture::max_width() const { return *std::max_element(widths.begin(), widths.end()); }

std::vector<int> Architecture::whole_widths() const {
  std::vector<int> w;
  for (int l = 0; l <= depth(); ++l) w.push_back(width(l));
  return w;
}

std::int64_t Architecture::v0_size() const { return std::int64_t{width(0)} * input_dim; }

std::int64_t Architecture::layer_block(int l) const { return std::int64_t{width(l)} * width(l - 1); }

std::int64_t Architecture::layer_offset(int l, int h) const {
  std::int64_t off = v0_size();
  for (int k = 1; k < l; ++k) off += heads[sz(k - 1)] * layer_block(k);
  return off + h * layer_block(l);
}

std::int64_t Architecture::readout_offset() const { return layer_offset(depth() + 1, 0); }

std::int64_t Architecture::size() const { return readout_offset() + width(depth()); }

double Architecture::prior_variance(std::int64_t i) const {
  if (i < v0_size()) return variances[0];
  for (int l = 1; l <= depth(); ++l)
    if (i < layer_offset(l + 1, 0)) return variances[sz(l)];
  return variances[sz(depth() + 1)];
}

}  // namespace attnpaths
