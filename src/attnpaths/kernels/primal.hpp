// Primal form of the renormalised kernel (docs/model.md §7), for P ≤ r: the P×P kernel
// K_T = Z Z^T + Temp·I with Z = Ξ (L ⊗ I), U_1 = L L^T, kept on every rank (P² ≤ P·r: no more than Ξ,
// which is gathered once). The work is split over the ranks by feature columns, and the small P³
// Cholesky is repeated on every rank:
//   K = Z Z^T:          SYRK over this rank's columns of Z, one allreduce of P²     P²·r/ranks
//   K_T = R R^T:        LAPACK Cholesky (every rank)                                 P³/3
//   ∂E/∂U_1:            block traces of W = R^{-1} Ξ over this rank's features i,   P²·r/ranks
//                       one allreduce of H_tot²  (never K_T^{-1})
//   predictor:          σ² = K** − |R^{-1} k*|² for this rank's test rows            P²·m + P·r·m
#pragma once

#include "attnpaths/kernels/renormalized_kernel.hpp"

namespace attnpaths {

class PrimalKernel final : public RenormalizedKernel {
 public:
  PrimalKernel(const PathInputs& train, double sigma0_sq, const Comm& comm);
  KernelForm form() const override { return KernelForm::primal; }
  Eigen::MatrixXd energy_gradient() override;
  std::vector<double> solve(const std::vector<double>& v) override;
  void path_gram(std::vector<double>& G, std::vector<double>& c) override;
  // K = ZZ^T (P²r) + Cholesky (P³/3) + the gradient's W = R^{-1}Ξ (P²r); the path Gram's W (P²r) + W^TW (r²P).
  double evaluation_flops() const override;
  double path_gram_flops() const override;
  PredictorMoments predict(const PathInputs& set) override;
  std::vector<double> alignment(const Eigen::MatrixXd& U1, int k) override;

 private:
  void factor_kernel(const Eigen::MatrixXd& U1, double temperature) override;
  // K(U) = Ξ (U ⊗ I) Ξ^T [P×P row-major, both triangles] on every rank.
  void assemble(const Eigen::MatrixXd& U, std::vector<double>& kernel);

  std::vector<double> xi_all_;    // Ξ, every example, row-major [P × r] (scaled)
  std::vector<double> y_all_;     // y, every example
  std::vector<double> chol_;      // R, the lower Cholesky factor of K_T [P × P]
  std::vector<double> alpha_;     // α = K_T^{-1} y [P]
  std::vector<double> c_;         // Ξ^T α [r]
  std::vector<double> z_, w_;     // work: Z [P × r]; this rank's feature columns of R^{-1} Ξ
};

}  // namespace attnpaths
