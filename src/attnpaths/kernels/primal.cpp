#include "attnpaths/kernels/primal.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/eigen.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/linalg.hpp"
#include "attnpaths/core/petsc.hpp"

namespace attnpaths {

PrimalKernel::PrimalKernel(const PathInputs& train, double sigma0_sq, const Comm& comm)
    : RenormalizedKernel(train, sigma0_sq, comm) {
  const std::int64_t r = features();
  ATTN_REQUIRE(examples_ * r < (std::int64_t{1} << 31), InputError,
               "the primal kernel form keeps Ξ (P·r = {}·{} values) on every rank, more than it supports; use --form "
               "dual",
               examples_, r);
  std::vector<double> local(train.xt.begin(), train.xt.end());
  for (double& v : local) v *= scale_;
  xi_all_ = comm.allgather_blocks(local);
  y_all_ = comm.allgather_blocks(train.y);
  ATTN_REQUIRE(static_cast<std::int64_t>(y_all_.size()) == examples_, LibraryError,
               "internal: gathered {} labels for {} training examples", y_all_.size(), examples_);
}

void PrimalKernel::assemble(const Eigen::MatrixXd& U, std::vector<double>& kernel) {
  // Z = Ξ (L ⊗ I); K = Z Z^T summed over the ranks' column ranges of Z (SYRK: half a GEMM's flops).
  const std::int64_t P = examples_;
  const int r = static_cast<int>(features());
  const std::vector<double> l = square_root(U);
  z_.resize(sz(P) * sz(r));
  right_multiply(l.data(), xi_all_.data(), P, 1.0, z_.data());
  const Range cols = block_range(r, comm_.rank(), comm_.size());
  kernel.assign(sz(P) * sz(P), 0.0);
  petsc::log_flops(static_cast<double>(P) * static_cast<double>(P) * static_cast<double>(cols.size()));
  if (cols.size() > 0)
    linalg::syrk(false, static_cast<int>(P), static_cast<int>(cols.size()), 1.0, z_.data() + cols.begin, r, 0.0,
                 kernel.data(), static_cast<int>(P));
  comm_.sum(kernel);
}

void PrimalKernel::factor_kernel(const Eigen::MatrixXd& U1, double temperature) {
  ATTN_REQUIRE(U1.rows() == paths_ && U1.cols() == paths_, LibraryError, "internal: U_1 is {}×{}, expected {}×{}",
               U1.rows(), U1.cols(), paths_, paths_);
  U1_ = U1;
  temperature_ = temperature;
  const std::int64_t P = examples_;
  const int n = static_cast<int>(P), r = static_cast<int>(features());
  // 1. K_T = Ξ (U_1 ⊗ I) Ξ^T + Temp·I  (docs/model.md §3.1)
  assemble(U1, chol_);
  for (std::int64_t i = 0; i < P; ++i) chol_[sz(i * P + i)] += temperature;
  // 2. K_T = R R^T (LAPACK, every rank), log det K_T = 2 Σ log R_ii
  if (!linalg::cholesky(n, chol_.data(), n))
    throw NumericalError(fmt::format(
        "the kernel K(U_1) + Temp·I (P = {}, Temp = {}) is not positive definite: Cholesky failed", P, temperature));
  log_det_ = linalg::cholesky_logdet(n, chol_.data(), n);
  petsc::log_flops(static_cast<double>(P) * P * P / 3.0 + 2.0 * static_cast<double>(P) * (P + r));
  // 3. α = K_T^{-1} y, the data fit y^T α, and c = Ξ^T α
  alpha_ = y_all_;
  linalg::cholesky_solve(n, 1, chol_.data(), n, alpha_.data(), 1);
  data_fit_ = 0;
  for (std::int64_t i = 0; i < P; ++i) data_fit_ += y_all_[sz(i)] * alpha_[sz(i)];
  c_.assign(sz(r), 0.0);
  linalg::gemm(true, false, r, 1, n, 1.0, xi_all_.data(), r, alpha_.data(), 1, 0.0, c_.data(), 1);
}

Eigen::MatrixXd PrimalKernel::energy_gradient() {
  // ∂E/∂U_1[π,π'] = Σ_i Ξ_i^T K_T^{-1} Ξ_i [π,π'] − Σ_i c[(π,i)] c[(π',i)]   (docs/model.md §3.4)
  // with Ξ_i^T K_T^{-1} Ξ_i = W_i^T W_i, W = R^{-1} Ξ: this rank solves for its features i (all paths).
  ATTN_REQUIRE(!chol_.empty(), LibraryError, "internal: energy_gradient() before factor()");
  const std::int64_t P = examples_;
  const Range dims = block_range(dim_, comm_.rank(), comm_.size());
  const std::size_t k = sz(dims.size()), H = sz(paths_), r = sz(features()), kw = H * k;
  std::vector<double> g(H * H, 0.0);
  if (k > 0) {
    w_.resize(sz(P) * kw);
    for (std::int64_t mu = 0; mu < P; ++mu)
      for (std::size_t p = 0; p < H; ++p)
        std::copy_n(&xi_all_[sz(mu) * r + p * sz(dim_) + sz(dims.begin)], k, &w_[sz(mu) * kw + p * k]);
    linalg::lower_solve(static_cast<int>(P), static_cast<int>(kw), chol_.data(), static_cast<int>(P), w_.data(),
                        static_cast<int>(kw));
    add_block_traces(w_.data(), w_.data(), P, static_cast<int>(k), g.data());
    petsc::log_flops(static_cast<double>(P) * P * static_cast<double>(kw) + 2.0 * static_cast<double>(P) * kw * H);
  }
  comm_.sum(g);
  Eigen::MatrixXd grad = from_row_major(g.data(), paths_, paths_);
  const auto c = from_row_major(c_.data(), paths_, dim_);
  grad -= c * c.transpose();
  return 0.5 * (grad + grad.transpose());
}

void PrimalKernel::path_gram(std::vector<double>& G, std::vector<double>& c) {
  ATTN_REQUIRE(!chol_.empty(), LibraryError, "internal: path_gram() before factor()");
  factored_path_gram({chol_.data(), xi_all_.data(), 1.0, c_.data()}, z_, G);
  c = c_;
}

double PrimalKernel::evaluation_flops() const { return primal_evaluation_flops(examples_, features()); }

double PrimalKernel::path_gram_flops() const { return factored_path_gram_flops(); }

PredictorMoments PrimalKernel::predict(const PathInputs& set) {
  ATTN_REQUIRE(!chol_.empty(), LibraryError, "internal: predict() before factor()");
  return factored_predict(set, {chol_.data(), xi_all_.data(), 1.0, c_.data()});
}

std::vector<double> PrimalKernel::solve(const std::vector<double>& v) {
  // K_T^{-1} v with the factor every rank holds: gather v, solve, keep this rank's rows.
  ATTN_REQUIRE(!chol_.empty(), LibraryError, "internal: solve() before factor()");
  ATTN_REQUIRE(static_cast<std::int64_t>(v.size()) == train_.local.size(), LibraryError,
               "internal: solve() needs this rank's {} rows, got {}", train_.local.size(), v.size());
  std::vector<double> x = comm_.allgather_blocks(v);
  const int n = static_cast<int>(examples_);
  linalg::cholesky_solve(n, 1, chol_.data(), n, x.data(), 1);
  petsc::log_flops(2.0 * n * n);
  return std::vector<double>(x.begin() + train_.local.begin, x.begin() + train_.local.end);
}

std::vector<double> PrimalKernel::alignment(const Eigen::MatrixXd& U1, int k) {
  std::vector<double> kernel;
  assemble(U1, kernel);
  return factored_alignment(kernel, y_all_, k);
}

}  // namespace attnpaths
