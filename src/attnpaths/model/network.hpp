// The network of docs/model.md §1 (its architecture: model/architecture.hpp) as a function of its learned
// weights, in the path-factorised form of docs/model.md §1.3 / §4, plus the direct ("naive") forward pass
// used as the reference by the tests and the benchmark.
//
// Parameters (one flat vector θ, row-major blocks in this order):
//   V0            [w0 × N0]                         prior N(0, σ0²)
//   V_l^h         [w_l × w_{l-1}]  l = 1..L, h = 0..H_l-1 (layer slowest)   prior N(0, σl²)
//   a             [w_L]                             prior N(0, σa²)
//
// Path factorisation (docs/model.md §1.3): with the row vectors
//   W_π = aᵀ V_L^{hL} ⋯ V_1^{h1} / sqrt(w1⋯wL) ∈ R^{w0}          ("effective path weights")
//   u_π = V0ᵀ W_πᵀ / sqrt(w0·N0·H_tot)            ∈ R^{N0}        ("path readouts")
// the network output is f(x) = Σ_π u_π · x̃_π with the precomputed path inputs x̃_π (model/path_inputs.hpp).
// The suffix products aᵀ V_L ⋯ V_l are shared between the paths that end alike, so the weight part
// costs O(H_tot·w0·N0 + Σ_l H_l⋯H_L · w_l·w_{l-1}) and never touches an example.
#pragma once

#include <cstdint>
#include <vector>

#include "attnpaths/model/architecture.hpp"
#include "attnpaths/model/attention.hpp"

namespace attnpaths {

// Path-factorised forward/backward of one network (docs/model.md §1.3, §4). Holds workspaces: one
// object per thread of use.
class PathNetwork {
 public:
  // with_v0 = false: θ holds no V0 block (the layers start at θ[0]; V0 integrated out elsewhere).
  explicit PathNetwork(Architecture shape, bool with_v0 = true);
  const Architecture& shape() const { return shape_; }
  std::int64_t size() const { return shape_.size() - shift_; }  // length of θ

  // Effective path weights W [H_tot × w0] (docs/model.md §1.3) of θ; keeps the suffix products for
  // backward_path_weights().
  const std::vector<double>& forward_path_weights(const double* theta);
  // Path readouts u [H_tot × N0] = W V0 / sqrt(w0 N0 H_tot) from the last forward_path_weights().
  void path_readouts(const double* theta, double* u) const;
  // Sampled order parameter U^s = W Wᵀ / w0 [H_tot × H_tot] (docs/model.md §1.3) from the last forward.
  void order_parameter(double* U) const;

  // Backward through the readouts: given du = ∂F/∂u [H_tot × N0], ADDS ∂F/∂V0, ∂F/∂V_l^h, ∂F/∂a
  // to grad (needs the last forward_path_weights() at the same θ).
  void backward_readouts(const double* theta, const double* du, double* grad);
  // Backward through the path weights: given dW = ∂F/∂W [H_tot × w0], ADDS ∂F/∂V_l^h and ∂F/∂a.
  void backward_path_weights(const double* theta, const double* dW, double* grad);

  // log prior (up to its constant) −Σ θ_i²/(2σ_i²) of the weights θ holds; ADDS its gradient to grad
  // when non-null (overwrite: WRITES it, every coordinate, saving a pass that zeroes grad).
  double log_prior(const double* theta, double* grad, bool overwrite = false) const;
  // grad = ∇ log prior + the backward of backward_readouts(); returns the log prior. The same numbers
  // as log_prior(θ, grad, true) then backward_readouts(θ, du, grad) up to round-off, with each layer
  // block streamed once instead of four times (memory-bound at large widths).
  double prior_and_backward_readouts(const double* theta, const double* du, double* grad);
  // The same for backward_path_weights(): WRITES ∇ log prior + the backward terms into the layer and
  // readout blocks of grad and returns their log prior (a V0 block, when θ holds one, is not touched).
  double prior_and_backward_path_weights(const double* theta, const double* dW, double* grad);

  // f for `count` examples: f[μ] = Σ_π u_π · x̃^μ_π, xt [count × H_tot × N0]. Each f[μ] is summed in
  // a fixed order, independent of how the examples are split over ranks.
  static void predict(const double* u, const double* xt, std::int64_t count, int paths, int dim, double* f);

  // Floating-point operations, for the flop counter of the callers (PETSc -log_view): one
  // forward_path_weights() (Σ_l H_l · 2 n_l w_{l-1} w_l; backward_path_weights() costs twice as much) and
  // one product with V0 (path_readouts(); its backward costs twice as much).
  double path_weight_flops() const { return path_weight_flops_; }
  double readout_flops() const { return 2.0 * shape_.paths() * shape_.input_dim * shape_.width(0); }

 private:
  const double* layer(const double* theta, int l, int h) const { return theta + shape_.layer_offset(l, h) - shift_; }
  double* layer(double* theta, int l, int h) const { return theta + shape_.layer_offset(l, h) - shift_; }
  double prior_block(const double* theta, double* grad, bool overwrite, std::int64_t begin, std::int64_t end,
                     double variance) const;
  void readouts_to_path_weights(const double* theta, const double* du, double* grad);
  double backward_layers(const double* theta, const double* dW, double* grad, bool with_prior);
  Architecture shape_;
  std::vector<int> widths_;  // w_0 … w_L (whole numbers)
  std::int64_t shift_ = 0;    // v0_size() when θ holds no V0
  double path_scale_ = 1;     // 1/sqrt(w1⋯wL)
  double readout_scale_ = 1;  // 1/sqrt(w0 N0 H_tot)
  double path_weight_flops_ = 0;
  // level_[l] for l = 0..L: the row vectors entering layer l+1 from above, [n_{l} × w_l], where
  // level_[L] = aᵀ (1 row) and level_[0] = the unnormalised W (H_tot rows).
  std::vector<std::vector<double>> level_;
  std::vector<std::vector<double>> dlevel_;
  std::vector<double> W_, dW_;
};

// Exact low-dimensional parametrisation of the effective path weights W (docs/model.md §1.3), for
// samplers that integrate out every weight direction the output does not see. Going down the layers,
// the suffix rows B_l [n_l × w_l] (n_l = Π_{k>l} H_k; B_L = aᵀ) are multiplied by V_l^h, whose entries
// are iid N(0, σl²): given B_l, each column of B_l V_l^h is N(0, σl² B_l B_lᵀ) and the columns and heads
// are independent. Hence B_l V_l^h has the law of C_l Y_l^h with C_l = chol(σl² B_l B_lᵀ) and Y_l^h
// [n_l × w_{l-1}] iid N(0, 1) — the same law of W with Σ_l H_l·n_l·w_{l-1} + w_L numbers instead of
// Σ_l H_l·w_l·w_{l-1}. φ = [a (w_L) | Y_L^h … | … | Y_1^h …] (layer L first, heads in order).
// Needs n_l ≤ w_l (linearly independent suffix rows).
class PathWeightFactors {
 public:
  explicit PathWeightFactors(Architecture shape);
  std::int64_t size() const { return size_; }
  double prior_sd(std::int64_t i) const;  // σa for a, 1 for Y
  // W [H_tot × w0] of φ (normalised by 1/sqrt(w1⋯wL)); keeps what backward() needs.
  const std::vector<double>& forward(const double* phi);
  // ADDS ∂F/∂φ given dW = ∂F/∂W (after forward() at the same φ).
  void backward(const double* phi, const double* dW, double* grad);
  // −|a|²/(2σa²) − |Y|²/2; ADDS its gradient (overwrite: WRITES it).
  double log_prior(const double* phi, double* grad, bool overwrite = false) const;
  // Floating-point operations of one forward() (Gram, Cholesky and products per layer; backward() costs
  // about three times as much), for the callers' flop counter.
  double forward_flops() const { return forward_flops_; }

 private:
  Architecture shape_;
  std::vector<int> widths_;  // w_0 … w_L (whole numbers)
  std::int64_t size_ = 0;
  std::vector<std::int64_t> offset_;               // offset_[l] of Y_l^0 in φ (l = 1..L)
  std::vector<int> rows_;                          // n_l
  std::vector<std::vector<double>> level_, dlevel_, chol_;
  std::vector<double> W_;
  double path_scale_ = 1;
  double forward_flops_ = 0;
};

// The direct forward pass of docs/model.md §1 for one example, O(T·Σ_l H_l·w_l·w_{l-1} + T²·…): the
// reference the path factorisation is tested against. `attention` holds that one example's Ω^{l,h}
// (layers l < L) and readout vectors ω^{L,h} (BlockAttention with nb = 1); x is [T × N0] (token s = row s).
double naive_forward(const Architecture& shape, const double* theta, const BlockAttention& attention,
                     const double* x, int tokens);
// The direct forward AND backward pass (reverse mode through §1 as written): returns f and ADDS
// c·∂f/∂θ to grad. Costs O(T·Σ_l H_l·w_l·w_{l-1}) per example: the benchmark's reference.
double naive_forward_backward(const Architecture& shape, const double* theta, const BlockAttention& attention,
                              const double* x, int tokens, double c, double* grad);

}  // namespace attnpaths
