// Path-pair form of the renormalised kernel (docs/model.md §3.1, §7), for many evaluations at small P
// (the theory's minimiser when resolve_kernel_form picks it, e.g. the default task at P = 100; the
// V0-marginal posterior of the sampler): the path-pair kernels C_ππ' = Ξ_π Ξ_π'^T [P×P] are formed
// once, H_tot(H_tot+1)/2 of them (C_ππ and S_ππ' = C_ππ' + C_π'π for π < π'), replicated on every rank.
// All are symmetric: only their lower triangles are kept, packed (P(P+1)/2 doubles each), as the
// columns of one matrix, so that each of the two contractions below is one GEMV (one pass over the pairs).
// Per factor(U_1, Temp):
//   K_T = Σ_π U_ππ C_ππ + Σ_{π<π'} U_ππ' S_ππ' + Temp·I       H_tot²·P²/4 (GEMV, lower triangle)
//   Cholesky, log det, α = K_T^{-1} y                          P³/3
// and per energy_gradient():
//   ∂E/∂U_ππ' = ⟨K_T^{-1} − α α^T, C_ππ'⟩ (Frobenius)          P³/3 (the inverse's lower triangle, in place)
//                                                              + H_tot²·P²/4 (GEMV on the lower triangles)
// against O(P²·r) (r = N0·H_tot) per evaluation in the primal form: the evaluations are O(P³) with a
// small constant, independent of N0. The energy Hessian works in example space at small P, the
// predictor on prepared sets from their train–test pair kernels, the path Gram and the alignment as in
// the primal form (shared code). Memory: H_tot(H_tot+1)/4 · P² doubles (path_pair_bytes) plus x̃ of
// every example; every rank computes the same numbers.
#pragma once

#include "attnpaths/core/buffer.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"

namespace attnpaths {

class PathPairKernel final : public RenormalizedKernel {
 public:
  PathPairKernel(const PathInputs& train, double sigma0_sq, const Comm& comm);
  KernelForm form() const override { return KernelForm::path_pairs; }
  Eigen::MatrixXd energy_gradient() override;
  std::vector<double> solve(const std::vector<double>& v) override;
  // G = Ξ^T K_T^{-1} Ξ from the Cholesky factor and x̃ (as in the primal form), c = Ξ^T α.
  void path_gram(std::vector<double>& G, std::vector<double>& c) override;
  // Cholesky (P³/3), the inverse (P³/3), two GEMVs over the pairs (H_tot²P²/2); the path Gram's
  // W = R^{-1}Ξ (P²r) + W^TW (r²P) + c (2Pr).
  double evaluation_flops() const override;
  double path_gram_flops() const override;
  // In example space from the pairs where that is cheaper (H_tot(H_tot+1)/2 · 2P³ against the path Gram's
  // P²r + r²P + r²H_tot²: P ≲ 230 at H_tot = 4, N0 = 231), else through the path Gram.
  Eigen::MatrixXd energy_hessian() override;
  double energy_hessian_flops() const override;
  // On a prepared set (prepare_predictions) from its train–test path-pair kernels: k* = Σ_k x_k C*_k
  // (one GEMV, H_tot(H_tot+1)·m·P flops) instead of ξ*(U_1⊗I)Ξ^T (2m·P·r); else the primal form's route.
  PredictorMoments predict(const PathInputs& set) override;
  // C*_k [m×P] (m the set's local rows) and K**'s pieces [m] of each pair, for the sets whose kernels
  // take at most automatic_path_pair_bytes.
  void prepare_predictions(const std::vector<const PathInputs*>& sets) override;
  std::vector<double> alignment(const Eigen::MatrixXd& U1, int k) override;
  bool alignment_is_local() const override { return true; }  // from the replicated path-pair kernels

 private:
  void factor_kernel(const Eigen::MatrixXd& U1, double temperature) override;
  // K(U) = Σ_ππ' U_ππ' C_ππ' + shift·I into `out` [P×P]: the lower triangle, the strict upper one zero
  // (all that the Cholesky and eigen solvers read; U symmetrised).
  void assemble(const Eigen::MatrixXd& U, double shift, std::vector<double>& out);
  int pair_index(int p, int q) const;  // column of C_pp (p == q) or S_pq (p < q) in pairs_
  const std::vector<double>& path_coefficients();  // c = Ξ^T α after factor() (computed once per factor())
  double example_space_hessian_flops() const;       // energy_hessian() from the pairs
  void symmetric_coefficients(const Eigen::MatrixXd& U, std::vector<double>& coef) const;  // x_k of U
  // The train–test path-pair kernels of a prepared evaluation set.
  struct CrossPairs {
    const PathInputs* set = nullptr;
    Buffer<double> kstar;       // [pair][m×P]: C*_pp = s² X*_p X_p^T, C*_pq = s²(X*_p X_q^T + X*_q X_p^T)
    std::vector<double> kss;    // [pair][m]: s²|x*_p|², 2s² x*_p·x*_q
  };
  PredictorMoments predict_prepared(const CrossPairs& cross);

  int P_ = 0;
  std::size_t packed_ = 0;              // P(P+1)/2: entries of a packed lower triangle (row i: i + 1 entries)
  std::vector<double> xt_all_, y_all_;  // x̃ and y of every example (unscaled), row-major [P × r], [P]
  std::vector<double> pairs_;           // [pair][packed_]: lower triangles of C_pp and S_pq, p ≤ q (pair_index)
  std::vector<double> chol_;            // Cholesky factor of K_T (lower)
  std::vector<double> alpha_, g_;       // α = K_T^{-1} y;  K_T^{-1} (lower triangle, by energy_gradient)
  std::vector<double> coef_, packed_work_;  // the pairs' coefficients; one packed lower triangle
  std::vector<double> c_, w_;           // c = Ξ^T α (empty until needed); work: R^{-1}Ξ of the path Gram
  std::vector<double> hessian_work_;    // R^{-1} B_k R^{-T} of every pair [pair][P×P] (energy_hessian)
  std::vector<CrossPairs> prepared_;    // prepare_predictions
};

}  // namespace attnpaths
