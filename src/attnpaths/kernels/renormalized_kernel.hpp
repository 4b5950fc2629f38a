// The renormalised kernel of the training set (docs/model.md §3.1) and everything computed from its
// factorisation at (U_1, Temp): the energy (§3.3), its gradient (§3.4), the predictor moments
// (§3.6) and the kernel–label alignment (§3.7). Three forms (§7), chosen automatically
// (resolve_kernel_form):
//   primal:     K = Ξ (U_1 ⊗ I) Ξ^T, P×P on every rank, work split over feature columns (P ≤ r);
//   path-pairs: the H_tot(H_tot+1)/2 path-pair kernels C_ππ' [P×P] formed once, then each evaluation
//               O(P³) independent of N0 (kernels/path_pairs.hpp): P ≤ r with small kernels (the
//               default task), and the sampler's V0-marginal posterior;
//   dual:       the r×r Gram B = Ξ^T Ξ (r = N0·H_tot), Woodbury and the determinant lemma (P > r).
// Ξ holds the scaled path inputs ξ_π = sqrt(σ0²/(N0·H_tot)) x̃_π; the primal and dual forms never form
// the P×P path-pair kernels C_ππ': U_1 is contracted with Ξ first.
#pragma once

#include <Eigen/Dense>

#include <memory>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/model/path_inputs.hpp"

namespace attnpaths {

enum class KernelForm { automatic, primal, dual, path_pairs };
std::string to_string(KernelForm f);
KernelForm parse_kernel_form(const std::string& s);  // "auto" | "primal" | "dual" | "path-pairs"

// Predictor mean f̄ and variance σ² (docs/model.md §3.6) on the local rows of one example set.
struct PredictorMoments {
  std::vector<double> mean, var;
};

class RenormalizedKernel {
 public:
  virtual ~RenormalizedKernel() = default;
  virtual KernelForm form() const = 0;
  int paths() const { return paths_; }
  std::int64_t examples() const { return examples_; }
  std::int64_t features() const { return static_cast<std::int64_t>(paths_) * dim_; }  // r

  // Factorises K_T = K(U_1) + Temp·I (collective). Throws NumericalError if K_T is not PD. Returns at
  // once when the last factor() succeeded at the same U_1 and Temp on every rank (the predictor after
  // the minimiser, whose last evaluation was at its result).
  void factor(const Eigen::MatrixXd& U1, double temperature);
  long factorizations() const { return factorizations_; }  // factor()s that did the work
  // After factor(): log det K_T and the data fit y^T K_T^{-1} y; E = log_det() + data_fit().
  double log_det() const { return log_det_; }
  double data_fit() const { return data_fit_; }
  // After factor(): ∂E/∂U_1 = Σ_i Ξ_i^T (K_T^{-1} − α α^T) Ξ_i, α = K_T^{-1} y (symmetric H_tot×H_tot).
  virtual Eigen::MatrixXd energy_gradient() = 0;
  // After factor(): K_T^{-1} v, v and the result on this rank's training rows (collective).
  virtual std::vector<double> solve(const std::vector<double>& v) = 0;
  // After factor(): G = Ξ^T K_T^{-1} Ξ [r×r row-major] and c = Ξ^T α [r], on every rank: what the
  // energy's Hessian needs (path_gram_hessian).
  virtual void path_gram(std::vector<double>& G, std::vector<double>& c) = 0;
  // After factor(): ∂²E/∂U_1∂U_1 (docs/model.md §3.4 differentiated once more), H²×H², row (a,b) =
  // a·H + b, column (c,d), on every rank; exact on symmetric directions (all the minimiser applies it
  // to). By default from the path Gram (path_gram_hessian); the path-pair form has its own.
  virtual Eigen::MatrixXd energy_hessian();
  // Flops of one energy_hessian() on one rank: path_gram_flops() + r²·H_tot².
  virtual double energy_hessian_flops() const;
  // Flops of one factor() + energy_gradient() and of one path_gram() on one rank (the minimiser's
  // choice between its Newton and quasi-Newton descents, theory/minimiser.hpp).
  virtual double evaluation_flops() const = 0;
  virtual double path_gram_flops() const = 0;
  // After factor(): f̄ = y^T K_T^{-1} k*, σ² = K** − k*^T K_T^{-1} k* on the local rows of `set`.
  virtual PredictorMoments predict(const PathInputs& set) = 0;
  // Announces sets that predict() will be given many times (collective; independent of factor()). The
  // path-pair form forms their train–test path-pair kernels once; the others ignore it. The sets must
  // outlive the kernel and keep their rows.
  virtual void prepare_predictions(const std::vector<const PathInputs*>& sets) { (void)sets; }
  // |v_k·y|/sqrt(P) for the top-k eigenvectors v_k of K(U_1) (no Temp), by decreasing eigenvalue
  // (fewer if the kernel's rank is smaller). Independent of factor().
  virtual std::vector<double> alignment(const Eigen::MatrixXd& U1, int k) = 0;
  // Whether alignment() is computed by each rank alone (not collective): then the ranks can each
  // take a different U_1 (theory/theory_run.cpp shares a batch of grid points out over them).
  virtual bool alignment_is_local() const { return false; }

  // Train–train kernel Σ_ππ' U_ππ' C_ππ' (no Temp) restricted to the global example indices
  // `subset`, [m×m] row-major, on every rank (for figures; m small). U = e_π e_π^T gives C_ππ.
  std::vector<double> kernel_block(const Eigen::MatrixXd& U, const std::vector<std::int64_t>& subset) const;

 protected:
  RenormalizedKernel(const PathInputs& train, double sigma0_sq, const Comm& comm);
  // factor()'s work in each form (sets U1_ and temperature_).
  virtual void factor_kernel(const Eigen::MatrixXd& U1, double temperature) = 0;
  // out[μ,(a,i)] = scale · Σ_π x[μ,(π,i)] M[π,a] for `rows` rows of length r = H·N0: every row, an
  // H × N0 block X_μ, becomes scale · M^T X_μ — the rows times (M ⊗ I_{N0}), path index slowest.
  // M is H × H row-major.
  void right_multiply(const double* M, const double* x, std::int64_t rows, double scale, double* out) const;
  // g[π,π'] += Σ_μ Σ_i a[μ,(π,i)] b[μ,(π',i)] over `rows` rows of length H·dim (the block traces of
  // a^T b), g H×H row-major.
  void add_block_traces(const double* a, const double* b, std::int64_t rows, int dim, double* g) const;
  // L with U = L L^T (Cholesky; symmetric square root if U is only semi-definite), row-major H×H.
  std::vector<double> square_root(const Eigen::MatrixXd& U) const;

  // What the forms that factor the P×P kernel (primal, path-pairs) share after factor(): the lower
  // Cholesky factor R of K_T [P×P], every training row [P×r] with Ξ = row_scale · rows (the primal form
  // keeps Ξ, the path-pair form x̃), and c = Ξ^T α [r].
  struct Factored {
    const double* chol;
    const double* rows;
    double row_scale;
    const double* c;
  };
  // The path Gram G = Ξ^T K_T^{-1} Ξ = W^T W, W = R^{-1} Ξ [r×r row-major], on every rank: the triangular
  // solve (P²r) on every rank, then W^T W by SYRK (r²P) on one rank, or this rank's rows of G by GEMM
  // (2r²P/ranks) gathered over several. `work` holds W.
  void factored_path_gram(const Factored& f, std::vector<double>& work, std::vector<double>& G) const;
  double factored_path_gram_flops() const;  // P²r + r²P (one rank)
  // Predictor moments (docs/model.md §3.6) of the local rows of `set`: f̄ = ξ*(U_1⊗I)·c,
  // σ² = K** − |R^{-1} k*|²; fixed chunks of test rows on the BLAS loop threads (core/parallel.hpp),
  // so the moments do not depend on the thread count.
  PredictorMoments factored_predict(const PathInputs& set, const Factored& f) const;
  // The alignment's overlaps |v_k·y|/sqrt(P) (docs/model.md §3.7) from the top eigenpairs of K(U_1)
  // [P×P, lower triangle read; overwritten] and every label y, stopping at the kernel's rank.
  std::vector<double> factored_alignment(std::vector<double>& kernel, const std::vector<double>& y, int k) const;
  // Training rows kept when the kernel was built from streamed sums (the x̃ of `train_` then empty):
  // kernel_block takes its rows from here.
  void keep_rows(std::vector<std::int64_t> index, std::vector<double> rows) {
    kept_index_ = std::move(index);
    kept_rows_ = std::move(rows);
  }
  const PathInputs& train_;
  const Comm& comm_;
  double scale_;  // x̃ -> ξ
  int paths_, dim_;
  std::int64_t examples_;
  std::vector<std::int64_t> kept_index_;
  std::vector<double> kept_rows_;
  // Set by factor() in every form: its U_1 and Temp, log det K_T and y^T K_T^{-1} y.
  Eigen::MatrixXd U1_;
  double temperature_ = 0, log_det_ = 0, data_fit_ = 0;

 private:
  bool factored_ = false;  // the last factor_kernel() succeeded (at U1_, temperature_)
  long factorizations_ = 0;
  // factored_predict on local test rows [q0, q0 + b) of `set` into out (u = U_1 row-major);
  // `contracted` and `kstar` are the caller thread's workspaces.
  void factored_predict_rows(const PathInputs& set, const Factored& f, const double* u, std::int64_t q0, int b,
                             std::vector<double>& contracted, std::vector<double>& kstar, PredictorMoments& out) const;
};

// ∂²E/∂U_1∂U_1 (unnormalised) from G = Ξ^T K_T^{-1} Ξ [r×r] and c = Ξ^T α (docs/model.md §3.4,
// differentiated once more): with G_ab the N0×N0 path blocks and c_a the path pieces of c,
//   ∂²E/∂U_ab ∂U_cd = −tr(G_bc G_da) + c_b^T G_ac c_d + c_a^T G_bc c_d,
// as an H²×H² matrix, row (a,b) = a·H + b, column (c,d). Cost r²·H² + 2 r·N0·H² flops.
Eigen::MatrixXd path_gram_hessian(const std::vector<double>& G, const std::vector<double>& c, int paths, int dim);

// Builds the kernel of `train` (its path inputs, sharded over `comm`) in the form `form` resolves to
// (resolve_kernel_form). The Comm and PathInputs must outlive the kernel.
std::unique_ptr<RenormalizedKernel> make_renormalized_kernel(KernelForm form, const PathInputs& train,
                                                             double sigma0_sq, const Comm& comm);

// Memory of the path-pair form's kernels: H_tot(H_tot+1)/2 packed lower triangles of P(P+1)/2 doubles.
std::size_t path_pair_bytes(std::int64_t P, int paths);

// The largest path-pair kernels `automatic` picks: 32 MiB on every rank (the last-level cache's order:
// every evaluation streams them twice). At H_tot = 4 that is P ≤ 916.
constexpr std::size_t automatic_path_pair_bytes = std::size_t{32} << 20;

// The form `requested` resolves to for P examples, H_tot = `paths` and r = N0·H_tot features:
// automatic is dual when P > r; else path-pairs when one evaluation costs fewer flops than the primal
// form's (2P³/3 + H_tot²P²/2 against 2P²r + P³/3) and path_pair_bytes(P, H_tot) ≤
// automatic_path_pair_bytes; else primal.
KernelForm resolve_kernel_form(KernelForm requested, std::int64_t P, int paths, std::int64_t r);

// Flops of one factor() + energy_gradient() on one rank: the primal form's K = ZZ^T, its Cholesky and
// the gradient's R^{-1}Ξ (2P²r + P³/3); the path-pair form's Cholesky and inverse, and its two passes
// over the pair kernels (2P³/3 + H_tot²P²/2).
double primal_evaluation_flops(std::int64_t P, std::int64_t r);
double path_pair_evaluation_flops(std::int64_t P, int paths);

// sqrt(σ0²/(N0·H_tot)): the scale from x̃ to ξ (docs/model.md §1.3).
double path_input_scale(double sigma0_sq, int N0, int paths);

}  // namespace attnpaths
