// Primal form of the renormalised kernel (docs/model.md §7): K_T = Ξ (U_1 ⊗ I) Ξ^T + Temp·I as a
// distributed P×P PETSc matrix (MPIDENSE, rows sharded like the examples), Cholesky factor and
// inverse by ScaLAPACK (MATSCALAPACK / MATSOLVERSCALAPACK). Ξ never changes during a run, so it is
// gathered once (P·r doubles per rank — what a distributed A·B^T gathers on every call anyway);
// every product with it is then one local GEMM:
//   K rows:            (Ξ_loc (U⊗I)) Ξ^T                  m·P·r
//   Cholesky, K_T^{-1}: ScaLAPACK pdpotrf, pdpotri          P³/3 + 2P³/3
//   ∂E/∂U_1:           Σ_i Ξ_i^T (K_T^{-1} − αα^T) Ξ_i      m·P·r + m·r·H_tot   (+ H_tot² allreduce)
// PETSc's MATSCALAPACK needs equal local sizes on every rank (except a shorter last one), which the
// example layout cannot give for small sets on many ranks. The P dimension is therefore padded
// with zero rows to a multiple of the rank count: rank k owns rows [k·b, (k+1)·b), b = ceil(P/ranks);
// real rows keep their global index; padded rows of K_T are Temp·e_i (removed from log det).
#pragma once

#include "attnpaths/core/petsc.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"

namespace attnpaths {

class PrimalKernel final : public RenormalizedKernel {
 public:
  PrimalKernel(const PathInputs& train, double sigma0_sq, const Comm& comm);
  KernelForm form() const override { return KernelForm::primal; }
  void factor(const Eigen::MatrixXd& U1, double temperature) override;
  double log_det() const override { return log_det_; }
  double data_fit() const override { return data_fit_; }
  Eigen::MatrixXd energy_gradient() override;
  void path_gram(std::vector<double>& G, std::vector<double>& c) override;
  PredictorMoments predict(const PathInputs& set) override;
  std::vector<double> alignment(const Eigen::MatrixXd& U1, int k) override;

 private:
  // Rows of `x` (each an H_tot × N0 block, `rows` of them) times (U ⊗ I), scaled by `scale`.
  void contract(const Eigen::MatrixXd& U, const double* x, std::int64_t rows, double scale, double* out) const;
  // K(U) + shift·I into the local rows of `kernel` (created, zeroed, on first use).
  void assemble(const Eigen::MatrixXd& U, double shift, petsc::Matrix& kernel);
  // K_T^{-1} of the current factor, in `inverse_` (local rows, column-major m_pad × P_pad).
  void compute_inverse();

  std::int64_t block_ = 0;        // padded rows per rank, b = ceil(P/ranks)
  std::vector<double> xi_all_;    // Ξ, every example, row-major [P × r] (scaled)
  std::vector<double> xi_local_;  // this rank's rows of Ξ [m × r] (scaled)
  petsc::Matrix kernel_;          // K_T            [P_pad × P_pad] MPIDENSE
  petsc::Matrix kernel_sl_;       // K_T            MATSCALAPACK
  petsc::Matrix factor_;          // Cholesky factor
  petsc::Matrix inverse_sl_, transposed_sl_, inverse_;  // K_T^{-1} (ScaLAPACK, work), K_T^{-1} (MPIDENSE)
  petsc::Vector labels_, alpha_;  // y and α = K_T^{-1} y (padded layout)
  std::vector<double> c_;         // Ξ^T α  [r], on every rank
  std::vector<double> scratch_;   // [m × r] work array, reused by every evaluation
  Eigen::MatrixXd U1_;
  double temperature_ = 0, log_det_ = 0, data_fit_ = 0;
  bool inverse_current_ = false;
};

}  // namespace attnpaths
