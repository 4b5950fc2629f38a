// The architecture of the network (docs/model.md §1–2): input dimension, heads per layer, widths and
// prior variances. The one description of the network: the theory's order parameters, the sampled and
// trained networks and pruning all read it, and validate() is its one check.
#pragma once

#include <cstdint>
#include <vector>

namespace attnpaths {

struct Architecture {
  int input_dim = 0;              // N0 (the theory's order parameters do not depend on it: 0 there)
  std::vector<int> heads;         // H_1 … H_L
  std::vector<double> widths;     // w_0 … w_L (n_l = w_{l-1}, N_a = w_L); whole numbers for a network with
                                  // weights, any positive numbers on the theory grid (w_l = ratio_l · N)
  std::vector<double> variances;  // σ0², σ1², …, σL², σa²  (L + 2 values)

  // A network given by whole widths (the sampler, the trainer): the one conversion to real widths.
  static Architecture network(int input_dim, std::vector<int> heads, const std::vector<int>& widths,
                              std::vector<double> variances);

  // The one check: L ≥ 1, L + 1 widths and L + 2 variances, all positive and finite. with_weights: the
  // network's weights are laid out (sampler, trainer): N0 ≥ 1 and whole widths. Throws InputError.
  void validate(bool with_weights = false) const;

  int depth() const { return static_cast<int>(heads.size()); }  // L
  int paths() const;                                             // H_tot = Π_l H_l
  int order(int l) const;  // size of U_l = Π_{k≥l} H_k  (l = 1..L); order(L+1) = 1

  // The theory's names (docs/model.md §3).
  double n(int l) const { return widths[static_cast<std::size_t>(l - 1)]; }         // n_l = w_{l-1}
  double width_a() const { return widths.back(); }                                  // N_a = w_L
  double sigma_sq(int l) const { return variances[static_cast<std::size_t>(l)]; }  // σ_l², l = 0..L
  double sigma_a_sq() const { return variances.back(); }
  double max_width() const;  // the action's normalisation

  // The network's names: w_l as a whole number (after validate(true)), l = 0..L.
  int width(int l) const { return static_cast<int>(widths[static_cast<std::size_t>(l)]); }
  std::vector<int> whole_widths() const;  // w_0 … w_L

  // Layout of the weights θ (docs/model.md §1; model/network.hpp): V0, then V_l^h, then a.
  std::int64_t size() const;                      // number of weights
  std::int64_t v0_offset() const { return 0; }
  std::int64_t v0_size() const;                   // w0·N0
  std::int64_t layer_offset(int l, int h) const;  // V_l^h, l = 1..L
  std::int64_t layer_block(int l) const;          // w_l·w_{l-1}
  std::int64_t readout_offset() const;            // a
  double prior_variance(std::int64_t i) const;    // of weight i
};

}  // namespace attnpaths
