// The gradient-descent network (docs/training.md; the standard PyTorch parameterisation, not the
// theory's): x [T × N0] → V0 (Linear N0→w, no bias) → L layers; in layer l each of H heads has
// learned Q^{l,h}, K^{l,h} ∈ R^{G×N0} applied to the INPUT tokens x, scores
// S_{st} = (K x_s)·(Q x_t)/√G, Ω^{l,h} = softmax over the keys s, values V_l^h ∈ R^{w×w}, and
//   z^l_t = H^{-1/2} Σ_h V_l^h Σ_s z^{l-1}_s Ω^{l,h}_{st};   f = a · readout_t(z^L_t)   (a ∈ R^w, no bias).
//
// Because the attention depends on x only, the output is a sum over attention paths π = (h_1..h_L)
// (layer 1 slowest) of the path inputs x̃_π = xᵀ Ω^{1,h1}⋯Ω^{L-1,h_{L-1}} ω^{L,hL} ∈ R^{N0}:
//   f(x) = Σ_π U_π · x̃_π,   U_π = c_π · aᵀ V_L^{hL} ⋯ V_1^{h1} V0,   c_π = Π_l H_l^{-1/2}
// (ω^{L,h} is the readout vector of Ω^{L,h}: mean over queries, last or first query). With heads
// removed (docs/training.md, evaluation) c_π = Π_l s_{l,h_l}, s = (H − d_l)^{-1/2} for kept heads, 0 else.
// So per example only the T×T attention, H_tot token-weight vectors and H_tot vectors of N0 are
// needed; the weights enter through U (batch-independent, model/network.hpp PathNetwork) and through
// M^{l,h} = K^{l,h ᵀ} Q^{l,h} (S = x M xᵀ/√G). Backward: ∂f/∂x̃_π = U_π, through the path recursion
// and the softmax into dS, dM = Σ_μ xᵀ dS x/√G, dQ = K dM, dK = Q dMᵀ; the value weights get
// their gradient from dU = Σ_μ ∂L/∂f_μ x̃_μ (PathNetwork::backward_readouts). Large products are
// BLAS-3 over a block of examples; the small per-example ones run in parallel over examples.
//
// Parameter vector θ (this order): the value part in PathNetwork's layout — V0 [w × N0], V_l^h
// [w × w] (l = 1..L, h slowest within l), a [w] — then Q^{l,h}, K^{l,h} [G × N0] for l = 1..L, h.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <utility>
#include <vector>

#include "attnpaths/core/rng.hpp"
#include "attnpaths/data/dataset.hpp"
#include "attnpaths/model/network.hpp"

namespace attnpaths {

// Random streams of the trainer's initial weights (core/rng.hpp).
namespace rng_domain {
inline constexpr RngDomain training_init{30};       // initial weights (index = parameter block)
}  // namespace rng_domain

// Workspaces aligned to Eigen's maximum alignment: the vectorised small products then take the same
// code path in every run, so results do not depend on where the allocator put a buffer (bitwise resume).
template <class Real>
using AlignedVector = std::vector<Real, Eigen::aligned_allocator<Real>>;

struct GdShape {
  int tokens = 48;      // T
  int input_dim = 192;  // N0
  int width = 512;      // w (every layer)
  int qk_dim = 128;     // G
  int heads = 4;        // H (every layer)
  int layers = 2;       // L
  Readout readout = Readout::mean;

  void validate() const;  // InputError naming the offending size
  int paths() const;      // H^L
  Architecture value_shape() const;  // V0, V, a as model/network.hpp's Architecture
  std::int64_t value_size() const;   // number of value weights (V0, V, a)
  std::int64_t size() const;         // all weights
  std::int64_t q_offset(int l, int h) const;  // l = 1..L
  std::int64_t k_offset(int l, int h) const;
  std::int64_t qk_block() const { return std::int64_t{qk_dim} * input_dim; }
};

// A head (layer l = 1..L, head h = 0..H-1).
using HeadRef = std::pair<int, int>;

// Path coefficients c_π with the heads `removed` zeroed and each layer's head sum rescaled by
// (H − d_l)^{-1/2} (docs/training.md). Throws InputError for unknown heads, duplicates, or all heads
// of a layer removed.
std::vector<double> path_coefficients(const GdShape& shape, const std::vector<HeadRef>& removed = {});

// Initial weights: every matrix U(−1/√fan_in, 1/√fan_in) (PyTorch's nn.Linear default), from the
// counter-based stream (seed, training_init, block index): V0 is block 0, V_l^h, a, then Q, K.
std::vector<double> initial_weights(const GdShape& shape, std::uint64_t seed);

template <class Real>
class GdNetwork {
 public:
  explicit GdNetwork(const GdShape& shape);
  const GdShape& shape() const { return shape_; }

  // The batch-independent part at θ: U (with coefficients c_π) and M^{l,h}. Call before forward().
  void prepare(const Real* theta, const std::vector<double>& coefficients);
  // f [n] for n examples x [n, T, N0]; keeps the attention and path inputs for backward().
  void forward(const Real* x, int n, Real* f);
  // After forward() on the same block, given df = ∂L/∂f [n]: ADDS this block's contributions to
  // partial [partial_size()] = [dU (H_tot × N0) | dM (L × H × N0 × N0)].
  void backward(const Real* x, int n, const Real* df, double* partial);
  std::int64_t partial_size() const;
  // ∂L/∂θ from the partial summed over every example (needs prepare() at the same θ). WRITES grad.
  void weight_gradient(const Real* theta, const double* partial, Real* grad);
  // Path inputs x̃ [n, H_tot, N0] of the last forward() (tests).
  const AlignedVector<Real>& path_inputs() const { return xt_; }
  // The per-path terms of the last forward() on n examples: g [n, H_tot], g[μ,π] = U_π·x̃^μ_π, so that
  // f[μ] = Σ_π g[μ,π]. f is linear in the path coefficients c_π: prepared with every c_π = 1, the output
  // with any coefficients c is Σ_π c_π g[μ,π] (network-side head pruning, prune/).
  void path_terms(int n, double* g) const;

 private:
  double forward_flops(int n) const;  // of forward() on n examples, for the flop counter
  void attention(const Real* x, int n);
  void path_token_weights(int n);
  void attention_backward(const Real* x, int n, const Real* df, AlignedVector<Real>& ys);
  GdShape shape_;
  PathNetwork values_;
  int paths_;
  std::vector<double> coefficients_, theta_values_, u_;
  AlignedVector<Real> U_, M_, xm_, omega_, xt_, p_, ys_;
  std::vector<AlignedVector<Real>> v_;  // v_[l-1]: token weights at level l [n, H^{L-l+1}, T]
};

// f for `count` examples of a set (double inputs converted to Real), in blocks; prepare() first.
// With `terms` non-null, also the per-path terms [count, H_tot] (GdNetwork::path_terms).
template <class Real>
void predict(GdNetwork<Real>& net, const double* x, std::int64_t count, double* f, double* terms = nullptr);

}  // namespace attnpaths
