#include "attnpaths/kernels/dual.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/linalg.hpp"

namespace attnpaths {

namespace {
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
}

DualKernel::DualKernel(const PathInputs& train, double sigma0_sq, const Comm& comm)
    : RenormalizedKernel(train, sigma0_sq, comm), r_(train.paths * train.dim) {
  // B = Σ_μ ξ_μ ξ_μ^T, b = Σ_μ y_μ ξ_μ, y^T y: local sums, then one allreduce (docs/model.md §7).
  const std::size_t r = static_cast<std::size_t>(r_);
  const int m = static_cast<int>(train.local.size());
  gram_.assign(r * r, 0.0);
  b_.assign(r, 0.0);
  if (m > 0) {
    linalg::syrk(true, r_, m, scale_ * scale_, train.xt.data(), r_, 0.0, gram_.data(), r_);
    linalg::gemm(true, false, r_, 1, m, scale_, train.xt.data(), r_, train.y.data(), 1, 0.0, b_.data(), 1);
  }
  double yy = 0;
  for (double v : train.y) yy += v * v;
  gram_.push_back(yy);  // one allreduce for all three
  gram_.insert(gram_.end(), b_.begin(), b_.end());
  comm.sum(gram_);
  yy_ = gram_[r * r];
  std::copy(gram_.begin() + static_cast<std::ptrdiff_t>(r * r + 1), gram_.end(), b_.begin());
  gram_.resize(r * r);
  gram_trace_ = Eigen::MatrixXd::Zero(paths_, paths_);
  for (int p = 0; p < paths_; ++p)
    for (int q = 0; q < paths_; ++q)
      for (int i = 0; i < dim_; ++i)
        gram_trace_(p, q) += gram_[static_cast<size_t>(p * dim_ + i) * r + static_cast<size_t>(q * dim_ + i)];
}

void DualKernel::factor(const Eigen::MatrixXd& U1, double temperature) {
  ATTN_REQUIRE(U1.rows() == paths_ && U1.cols() == paths_, LibraryError, "internal: U_1 is {}×{}, expected {}×{}",
               U1.rows(), U1.cols(), paths_, paths_);
  ATTN_REQUIRE(temperature > 0, InputError, "the dual kernel form needs Temp > 0 (got {})", temperature);
  U1_ = U1;
  temperature_ = temperature;
  const std::size_t r = static_cast<std::size_t>(r_);
  l_ = square_root(U1);
  // B' = B L' (B symmetric: rows of B' are L^T applied to rows of B, transposed) and Λ = L'^T B'.
  bl_.resize(r * r);
  right_multiply(l_.data(), gram_.data(), r_, 1.0, bl_.data());  // rows of B times L': B L' (B symmetric)
  // Λ[(a,i), σ] = Σ_π L[π,a] B'[(π,i), σ]: view B' as H blocks of (N0·r) values -> Λ = L^T · B'.
  chol_.assign(r * r, 0.0);
  linalg::gemm(true, false, paths_, dim_ * r_, paths_, 1.0, l_.data(), paths_, bl_.data(), dim_ * r_, 0.0,
               chol_.data(), dim_ * r_);
  for (std::size_t i = 0; i < r; ++i) chol_[i * r + i] += temperature;  // (Cholesky reads one triangle only)
  if (!linalg::cholesky(r_, chol_.data(), r_))
    throw NumericalError(fmt::format(
        "Temp·I + L'^T B L' (r = {}, Temp = {}) is not positive definite in the dual kernel form", r_, temperature));
  const double P = static_cast<double>(examples_);
  log_det_ = (P - static_cast<double>(r_)) * std::log(temperature) + linalg::cholesky_logdet(r_, chol_.data(), r_);
  // b̃ = L'^T b ; u = A^{-1} b̃ ; y^T K_T^{-1} y = (y^T y − b̃·u)/Temp
  bt_.assign(r, 0.0);
  linalg::gemm(true, false, paths_, dim_, paths_, 1.0, l_.data(), paths_, b_.data(), dim_, 0.0, bt_.data(), dim_);
  std::vector<double> u = bt_;
  linalg::cholesky_solve(r_, 1, chol_.data(), r_, u.data(), 1);
  double btu = 0;
  for (std::size_t i = 0; i < r; ++i) btu += bt_[i] * u[i];
  data_fit_ = (yy_ - btu) / temperature;
  // c = Ξ^T α = (b − B L' u)/Temp
  c_ = b_;
  linalg::gemm(false, false, r_, 1, r_, -1.0, bl_.data(), r_, u.data(), 1, 1.0, c_.data(), 1);
  for (double& v : c_) v /= temperature;
}

Eigen::MatrixXd DualKernel::energy_gradient() {
  // Ξ^T K_T^{-1} Ξ = (B − B' A^{-1} B'^T)/Temp with B' = B L'; only its block traces are needed:
  // Σ_i (B' A^{-1} B'^T)[(π,i),(π',i)] = Σ_i X[(π,i),:]·X[(π',i),:] with X = B' L_A^{-T} (A = L_A L_A^T).
  const std::size_t r = static_cast<std::size_t>(r_);
  work_ = bl_;
  linalg::lower_transpose_solve_right(r_, r_, chol_.data(), r_, work_.data(), r_);
  // For each feature i the rows (π, i), π = 0..H-1, are N0 rows apart: one small GEMM per i.
  std::vector<double> g(static_cast<size_t>(paths_ * paths_), 0.0);
  for (int i = 0; i < dim_; ++i)
    linalg::gemm(false, true, paths_, paths_, r_, 1.0, work_.data() + static_cast<size_t>(i) * r, dim_ * r_,
                 work_.data() + static_cast<size_t>(i) * r, dim_ * r_, 1.0, g.data(), paths_);
  Eigen::MatrixXd grad = gram_trace_;
  for (int p = 0; p < paths_; ++p)
    for (int q = 0; q < paths_; ++q) grad(p, q) -= g[static_cast<size_t>(p * paths_ + q)];
  grad /= temperature_;
  Eigen::Map<const RowMatrix> c(c_.data(), paths_, dim_);
  grad -= c * c.transpose();
  return 0.5 * (grad + grad.transpose());
}

void DualKernel::path_gram(std::vector<double>& G, std::vector<double>& c) {
  // Ξ^T K_T^{-1} Ξ = (B − X X^T)/Temp with X = B' L_A^{-T} (see energy_gradient).
  work_ = bl_;
  linalg::lower_transpose_solve_right(r_, r_, chol_.data(), r_, work_.data(), r_);
  G = gram_;
  linalg::syrk(false, r_, r_, -1.0, work_.data(), r_, 1.0, G.data(), r_);
  for (double& v : G) v /= temperature_;
  c = c_;
}

PredictorMoments DualKernel::predict(const PathInputs& set) {
  ATTN_REQUIRE(set.paths == paths_ && set.dim == dim_, InputError,
               "the '{}' set has {} paths × {} features, the training set {} × {}", set.set_name, set.paths, set.dim,
               paths_, dim_);
  const std::int64_t m = set.local.size();
  const std::size_t r = static_cast<std::size_t>(r_);
  PredictorMoments out;
  out.mean.assign(static_cast<size_t>(m), 0.0);
  out.var.assign(static_cast<size_t>(m), 0.0);
  if (m == 0) return out;
  // f̄ = ξ* · (U_1 ⊗ I) c ;  σ² = ξ* (M − M R M) ξ*^T = Temp · v^T A^{-1} v with v = L'^T ξ*.
  Eigen::Map<const RowMatrix> c(c_.data(), paths_, dim_);
  const RowMatrix w = U1_ * c;
  std::vector<double> v(static_cast<size_t>(m) * r);
  right_multiply(l_.data(), set.xt.data(), m, scale_, v.data());
  // Z = L_A^{-1} V^T  [r × m]
  std::vector<double> z(r * static_cast<size_t>(m));
  for (std::int64_t q = 0; q < m; ++q)
    for (std::size_t i = 0; i < r; ++i) z[i * static_cast<size_t>(m) + static_cast<size_t>(q)] = v[static_cast<size_t>(q) * r + i];
  linalg::lower_solve(r_, static_cast<int>(m), chol_.data(), r_, z.data(), static_cast<int>(m));
  for (std::int64_t q = 0; q < m; ++q) {
    Eigen::Map<const RowMatrix> x(set.row(q), paths_, dim_);
    out.mean[static_cast<size_t>(q)] = scale_ * x.cwiseProduct(w).sum();
    double s = 0;
    for (std::size_t i = 0; i < r; ++i) {
      const double zi = z[i * static_cast<size_t>(m) + static_cast<size_t>(q)];
      s += zi * zi;
    }
    out.var[static_cast<size_t>(q)] = temperature_ * s;
  }
  return out;
}

std::vector<double> DualKernel::alignment(const Eigen::MatrixXd& U1, int k) {
  // The non-zero eigenpairs of K = Ξ L' L'^T Ξ^T come from Λ = L'^T B L' = W D W^T:
  // v_k = Ξ L' w_k / sqrt(d_k), so v_k·y = w_k·b̃ / sqrt(d_k) with b̃ = L'^T b.
  const std::size_t r = static_cast<std::size_t>(r_);
  const std::vector<double> l = square_root(U1);
  std::vector<double> bl(r * r), lambda(r * r), bt(r);
  right_multiply(l.data(), gram_.data(), r_, 1.0, bl.data());
  linalg::gemm(true, false, paths_, dim_ * r_, paths_, 1.0, l.data(), paths_, bl.data(), dim_ * r_, 0.0, lambda.data(),
               dim_ * r_);
  linalg::gemm(true, false, paths_, dim_, paths_, 1.0, l.data(), paths_, b_.data(), dim_, 0.0, bt.data(), dim_);
  std::vector<double> values, vectors;
  linalg::symmetric_eigen(r_, lambda.data(), r_, values, vectors);
  std::vector<double> overlap;
  const double top = values.empty() ? 0.0 : values.back();
  for (int j = r_ - 1; j >= 0 && static_cast<int>(overlap.size()) < k; --j) {
    const double d = values[static_cast<size_t>(j)];
    if (d <= 1e-12 * top) break;  // beyond the kernel's rank
    double dot = 0;
    for (std::size_t i = 0; i < r; ++i) dot += vectors[i * r + static_cast<size_t>(j)] * bt[i];
    overlap.push_back(std::abs(dot) / std::sqrt(d * static_cast<double>(examples_)));
  }
  return overlap;
}

}  // namespace attnpaths
