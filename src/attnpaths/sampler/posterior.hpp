// Log-posterior densities sampled by NUTS (docs/model.md §2, §4), evaluated collectively by the K example
// shards of one chain group.
//
//   joint       p(Θ|D) ∝ exp(−Σ_μ (f(x^μ;Θ) − y^μ)²/(2 Temp) − prior)  over ALL weights (docs/model.md §2). The
//               gradient uses the path factorisation (docs/model.md §4): example part O(P_local·H_tot·N0),
//               reduced to g_π = Σ_μ r_μ x̃^μ_π; weight part O(H_tot·w0·N0 + Σ_l H_l⋯H_L·w_l·w_{l-1}).
//   v0-marginal the same posterior with V0 integrated out in closed form (f is linear in V0): the
//               marginal likelihood is N(y; 0, K(U^s) + Temp·I) with the renormalised kernel
//               K(U^s) = Σ_ππ' U^s_ππ' C_ππ' of the SAMPLED order parameter (docs/model.md §3.1), its
//               log-determinant, data fit, gradient and solves from kernels/ (RenormalizedKernel). NUTS then
//               runs over V_1..V_L, a only; V0 (through u) is drawn exactly from its Gaussian conditional
//               at every draw. Same posterior, no Temp-stiff directions: much faster mixing at small Temp.
//   path-weights the v0-marginal posterior in the exact low-dimensional parametrisation of W of
//               model/network.hpp PathWeightFactors: every weight direction that does not change W is
//               integrated out too, leaving w_L + Σ_l H_l·n_l·w_{l-1} coordinates (O(H_tot·w) instead of
//               O(H·w²)); the law of (U^s, f) is unchanged. The one to use at large widths.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/reduction.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"
#include "attnpaths/model/network.hpp"
#include "attnpaths/model/path_inputs.hpp"

namespace attnpaths {

// A differentiable log density on R^n, evaluated collectively on its communicator.
class LogDensity {
 public:
  virtual ~LogDensity() = default;
  virtual std::int64_t dimension() const = 0;
  // log density (up to a constant) at theta; writes its gradient into grad (size n).
  virtual double evaluate(const double* theta, double* grad) = 0;
  // Prior draw (initial point); every rank of the group draws the same numbers.
  virtual void draw_initial(RandomStream& rng, double* theta) const;
  std::int64_t evaluations() const { return evaluations_; }

 protected:
  std::int64_t evaluations_ = 0;
  std::vector<double> prior_sd_;  // per-coordinate prior standard deviation (for draw_initial)
};

// Keeps only the rows `rows` (global indices) of path inputs distributed over `shard` (any split).
PathInputs redistribute_rows(const PathInputs& in, Range rows, const Comm& shard);

class JointPosterior : public LogDensity {
 public:
  // train: path inputs of the local canonical rows (blocks.local()).
  JointPosterior(const Architecture& shape, double temperature, PathInputs train, const ExampleBlocks& blocks);
  std::int64_t dimension() const override { return shape_.size(); }
  double evaluate(const double* theta, double* grad) override;
  const Architecture& shape() const { return shape_; }

  // Per draw: order parameter U^s [H×H] and path readouts u [H×N0] of θ.
  void observe(const double* theta, double* U, double* u);

 private:
  Architecture shape_;
  double temperature_;
  PathInputs train_;
  const ExampleBlocks& blocks_;
  PathNetwork net_;
  std::vector<double> u_, du_, f_, partials_, reduced_;
};

class MarginalPosterior : public LogDensity {
 public:
  enum class Coordinates { weights, path_weights };
  // The coordinates of a marginal `sample --target`: "path-weights" -> path_weights, "v0-marginal" -> weights.
  static Coordinates coordinates_of(const std::string& target) {
    return target == "path-weights" ? Coordinates::path_weights : Coordinates::weights;
  }
  // train: ALL training path inputs (replicated in the group). coordinates = weights: θ' = θ without
  // V0 (the layers and a); path_weights: φ of PathWeightFactors. form: the renormalised kernel's form
  // (kernels/); `automatic` picks path-pairs when its kernels fit in path_pair_budget bytes, else the
  // theory's automatic choice (primal for P ≤ r, dual beyond).
  MarginalPosterior(const Architecture& shape, double temperature, const PathInputs& train,
                    Coordinates coordinates = Coordinates::weights, KernelForm form = KernelForm::automatic);
  MarginalPosterior(const MarginalPosterior&) = delete;  // the kernel refers to train_ and self_
  MarginalPosterior& operator=(const MarginalPosterior&) = delete;
  std::int64_t dimension() const override { return dimension_; }
  double evaluate(const double* theta, double* grad) override;
  KernelForm kernel_form() const { return kernel_->form(); }
  static constexpr std::size_t path_pair_budget = std::size_t{1} << 31;

  // Per draw: order parameter U^s and path readouts u drawn from p(u | θ', D) (exact Gaussian, Matheron's
  // rule: u = u_prior + (σ0²/(N0 H)) U (X̃ᵀ β), β = K_T⁻¹(y − f_prior − ε)).
  void observe(const double* theta, RandomStream& rng, double* U, double* u);

 private:
  const std::vector<double>& path_weights(const double* theta);  // W, kept for backward
  // U^s = W Wᵀ/w0 of θ into U_, and K_T = K(U^s) + Temp·I factorised (docs/model.md §3.1).
  const std::vector<double>& factor(const double* theta);
  Architecture shape_;
  Coordinates coordinates_;
  std::int64_t dimension_ = 0;
  std::unique_ptr<PathWeightFactors> factors_;
  double temperature_;
  int P_ = 0, H_ = 0, N0_ = 0;
  PathInputs train_;  // all training path inputs [P × H × N0] and targets
  Comm self_;         // the kernel's communicator: every rank of the group holds every example
  std::unique_ptr<RenormalizedKernel> kernel_;
  PathNetwork net_;
  std::vector<double> U_, dW_;
};

}  // namespace attnpaths
