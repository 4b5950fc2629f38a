#include "attnpaths/kernels/path_pairs.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/eigen.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/linalg.hpp"
#include "attnpaths/core/petsc.hpp"

namespace attnpaths {

std::size_t path_pair_bytes(std::int64_t P, int paths) {
  return sz(paths) * sz(paths + 1) / 2 * (sz(P) * sz(P + 1) / 2) * sizeof(double);
}

PathPairKernel::PathPairKernel(const PathInputs& train, double sigma0_sq, const Comm& comm)
    : RenormalizedKernel(train, sigma0_sq, comm), P_(static_cast<int>(train.count)) {
  // Every example on every rank (rows are split in rank order, as the dataset reader splits them).
  const std::vector<double> ends = comm.allgather_blocks({double(train.local.begin), double(train.local.end)});
  for (int k = 0; k + 1 < comm.size(); ++k)
    ATTN_REQUIRE(ends[sz(2 * k + 1)] == ends[sz(2 * k + 2)], LibraryError,
                 "internal: path inputs of '{}' are not split in rank order", train.set_name);
  xt_all_ = comm.allgather_blocks(train.xt);
  y_all_ = comm.allgather_blocks(train.y);
  const int H = paths_, N0 = dim_, r = H * N0;
  const double s2 = scale_ * scale_;
  // C_pp = Ξ_p Ξ_p^T (SYRK), S_pq = C_pq + C_pq^T (p < q), Ξ_p = columns [p·N0, (p+1)·N0) of Ξ; lower
  // triangles packed row by row.
  packed_ = sz(P_) * sz(P_ + 1) / 2;
  pairs_.assign(sz(H) * sz(H + 1) / 2 * packed_, 0.0);
  coef_.assign(sz(H) * sz(H + 1) / 2, 0.0);
  packed_work_.assign(packed_, 0.0);
  std::vector<double> c(sz(P_) * sz(P_));
  for (int p = 0; p < H; ++p)
    for (int q = p; q < H; ++q) {
      double* dst = pairs_.data() + sz(pair_index(p, q)) * packed_;
      const double* xp = xt_all_.data() + sz(p) * sz(N0);
      const double* xq = xt_all_.data() + sz(q) * sz(N0);
      if (p == q)
        linalg::syrk(false, P_, N0, s2, xp, r, 0.0, c.data(), P_);
      else
        linalg::gemm(false, true, P_, P_, N0, s2, xp, r, xq, r, 0.0, c.data(), P_);
      for (int i = 0; i < P_; ++i)
        for (int j = 0; j <= i; ++j)
          *dst++ = p == q ? c[sz(i) * sz(P_) + sz(j)] : c[sz(i) * sz(P_) + sz(j)] + c[sz(j) * sz(P_) + sz(i)];
    }
}

int PathPairKernel::pair_index(int p, int q) const {
  // p ≤ q, the upper triangle row by row: (0,0) … (0,H−1), (1,1) … .
  return p * paths_ - p * (p - 1) / 2 + (q - p);
}

void PathPairKernel::symmetric_coefficients(const Eigen::MatrixXd& U, std::vector<double>& coef) const {
  coef.resize(sz(paths_) * sz(paths_ + 1) / 2);
  for (int p = 0; p < paths_; ++p)
    for (int q = p; q < paths_; ++q) coef[sz(pair_index(p, q))] = p == q ? U(p, p) : 0.5 * (U(p, q) + U(q, p));
}

void PathPairKernel::assemble(const Eigen::MatrixXd& U, double shift, std::vector<double>& out) {
  // K = Σ_π U_ππ C_ππ + Σ_{π<π'} U_ππ' S_ππ' (docs/model.md §3.1 with symmetric U), + shift·I: one GEMV
  // over the packed lower triangles, then unpacked.
  symmetric_coefficients(U, coef_);
  const int pairs = static_cast<int>(coef_.size());
  linalg::gemv(true, pairs, static_cast<int>(packed_), 1.0, pairs_.data(), static_cast<int>(packed_), coef_.data(), 0.0,
               packed_work_.data());
  out.assign(sz(P_) * sz(P_), 0.0);
  const double* k = packed_work_.data();
  for (int i = 0; i < P_; ++i) {
    std::copy(k, k + i + 1, out.data() + sz(i) * sz(P_));
    k += i + 1;
    out[sz(i) * sz(P_) + sz(i)] += shift;
  }
}

void PathPairKernel::factor_kernel(const Eigen::MatrixXd& U1, double temperature) {
  ATTN_REQUIRE(U1.rows() == paths_ && U1.cols() == paths_, LibraryError, "internal: U_1 is {}×{}, expected {}×{}",
               U1.rows(), U1.cols(), paths_, paths_);
  U1_ = U1;
  temperature_ = temperature;
  g_.clear();
  c_.clear();
  assemble(U1, temperature, chol_);
  if (!linalg::cholesky(P_, chol_.data(), P_))
    throw NumericalError(fmt::format("the kernel K(U_1) + Temp·I (P = {}, Temp = {}) is not positive definite",
                                     examples_, temperature));
  log_det_ = linalg::cholesky_logdet(P_, chol_.data(), P_);  // docs/model.md §3.3
  petsc::log_flops(static_cast<double>(P_) * P_ * P_ / 3 + static_cast<double>(coef_.size()) * P_ * (P_ + 1) +
                   2.0 * P_ * P_);
  alpha_ = y_all_;
  linalg::cholesky_solve(P_, 1, chol_.data(), P_, alpha_.data(), 1);
  data_fit_ = 0;
  for (int i = 0; i < P_; ++i) data_fit_ += y_all_[sz(i)] * alpha_[sz(i)];
}

Eigen::MatrixXd PathPairKernel::energy_gradient() {
  // ∂E/∂U_ππ' = ⟨G, C_ππ'⟩ with G = K_T^{-1} − α α^T symmetric, so ⟨G, C_ππ'⟩ = ½⟨G, S_ππ'⟩ (docs/model.md §3.4).
  // On lower triangles: ⟨G, C⟩ = Σ_i G_ii C_ii + Σ_{i>j} 2 G_ij C_ij, one GEMV against the packed pairs.
  ATTN_REQUIRE(!chol_.empty(), LibraryError, "internal: energy_gradient() before factor()");
  g_ = chol_;
  linalg::cholesky_inverse_lower(P_, g_.data(), P_);
  double* w = packed_work_.data();
  for (int i = 0; i < P_; ++i) {
    const double* gi = g_.data() + sz(i) * sz(P_);
    const double ai = alpha_[sz(i)];
    for (int j = 0; j < i; ++j) *w++ = 2.0 * (gi[j] - ai * alpha_[sz(j)]);
    *w++ = gi[i] - ai * ai;
  }
  const int pairs = static_cast<int>(coef_.size());
  petsc::log_flops(static_cast<double>(P_) * P_ * P_ / 3 + static_cast<double>(pairs) * P_ * (P_ + 1));
  linalg::gemv(false, pairs, static_cast<int>(packed_), 1.0, pairs_.data(), static_cast<int>(packed_),
               packed_work_.data(), 0.0, coef_.data());
  Eigen::MatrixXd grad(paths_, paths_);
  for (int p = 0; p < paths_; ++p)
    for (int q = p; q < paths_; ++q) {
      const double s = coef_[sz(pair_index(p, q))];
      grad(p, q) = grad(q, p) = p == q ? s : 0.5 * s;
    }
  return grad;
}

std::vector<double> PathPairKernel::solve(const std::vector<double>& v) {
  ATTN_REQUIRE(!chol_.empty(), LibraryError, "internal: solve() before factor()");
  ATTN_REQUIRE(static_cast<std::int64_t>(v.size()) == train_.local.size(), LibraryError,
               "internal: solve() needs this rank's {} rows, got {}", train_.local.size(), v.size());
  std::vector<double> x = comm_.allgather_blocks(v);
  linalg::cholesky_solve(P_, 1, chol_.data(), P_, x.data(), 1);
  return {x.begin() + train_.local.begin, x.begin() + train_.local.end};
}

const std::vector<double>& PathPairKernel::path_coefficients() {
  // c = Ξ^T α = scale · x̃^T α, once per factor() (only the path Gram and the predictor need it).
  ATTN_REQUIRE(!chol_.empty(), LibraryError, "internal: the path-pair kernel is used before factor()");
  if (c_.empty()) {
    const int r = paths_ * dim_;
    c_.assign(sz(r), 0.0);
    linalg::gemv(true, P_, r, scale_, xt_all_.data(), r, alpha_.data(), 0.0, c_.data());
  }
  return c_;
}

void PathPairKernel::path_gram(std::vector<double>& G, std::vector<double>& c) {
  c = path_coefficients();
  factored_path_gram({chol_.data(), xt_all_.data(), scale_, c_.data()}, w_, G);
}

Eigen::MatrixXd PathPairKernel::energy_hessian() {
  // With K = Σ_k x_k B_k (B_k = C_ππ, or S_ππ' = C_ππ' + C_π'π for π < π'; x_k = U_ππ'), on symmetric U:
  //   ∂²E/∂x_k∂x_l = −tr(K_T^{-1} B_k K_T^{-1} B_l) + 2 α^T B_k K_T^{-1} B_l α = −⟨M_k, M_l⟩ + 2 u_k·u_l
  // with M_k = R^{-1} B_k R^{-T} and u_k = R^{-1} B_k α (docs/model.md §3.4 differentiated once more).
  // ∂E/∂U_ab carries ½ of ∂E/∂x_k off the diagonal (energy_gradient), so E2[(a,b),(c,d)] = f_ab f_cd h_kl.
  if (example_space_hessian_flops() > RenormalizedKernel::energy_hessian_flops())
    return RenormalizedKernel::energy_hessian();  // larger P: through the path Gram
  ATTN_REQUIRE(!chol_.empty(), LibraryError, "internal: energy_hessian() before factor()");
  const int pairs = static_cast<int>(coef_.size()), n = P_, nn = P_ * P_;
  hessian_work_.resize(sz(pairs) * sz(nn));
  std::vector<double> u(sz(pairs) * sz(n)), mm(sz(pairs) * sz(pairs)), uu(mm.size());
  for (int k = 0; k < pairs; ++k) {
    double* m = hessian_work_.data() + sz(k) * sz(nn);
    const double* packed = pairs_.data() + sz(k) * packed_;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j <= i; ++j) m[sz(i) * sz(n) + sz(j)] = m[sz(j) * sz(n) + sz(i)] = *packed++;
    double* uk = u.data() + sz(k) * sz(n);
    linalg::gemv(false, n, n, 1.0, m, n, alpha_.data(), 0.0, uk);
    linalg::lower_solve(n, 1, chol_.data(), n, uk, 1);
    linalg::lower_solve(n, n, chol_.data(), n, m, n);                 // R^{-1} B_k
    linalg::lower_transpose_solve_right(n, n, chol_.data(), n, m, n);  // (R^{-1} B_k) R^{-T}
  }
  linalg::gemm(false, true, pairs, pairs, nn, 1.0, hessian_work_.data(), nn, hessian_work_.data(), nn, 0.0, mm.data(),
               pairs);
  linalg::gemm(false, true, pairs, pairs, n, 1.0, u.data(), n, u.data(), n, 0.0, uu.data(), pairs);
  const int H = paths_;
  Eigen::MatrixXd E2(H * H, H * H);
  for (int a = 0; a < H; ++a)
    for (int b = 0; b < H; ++b)
      for (int c = 0; c < H; ++c)
        for (int d = 0; d < H; ++d) {
          const std::size_t k = sz(pair_index(std::min(a, b), std::max(a, b))) * sz(pairs) +
                                sz(pair_index(std::min(c, d), std::max(c, d)));
          E2(a * H + b, c * H + d) = (a == b ? 1.0 : 0.5) * (c == d ? 1.0 : 0.5) * (2.0 * uu[k] - mm[k]);
        }
  petsc::log_flops(example_space_hessian_flops());
  return E2;
}

double PathPairKernel::example_space_hessian_flops() const {
  const double P = P_, pairs = static_cast<double>(coef_.size());
  return pairs * (2 * P * P * P + 4 * P * P) + 2 * pairs * pairs * P * P;
}

double PathPairKernel::energy_hessian_flops() const {
  return std::min(example_space_hessian_flops(), RenormalizedKernel::energy_hessian_flops());
}

double PathPairKernel::evaluation_flops() const { return path_pair_evaluation_flops(P_, paths_); }

double PathPairKernel::path_gram_flops() const {
  return factored_path_gram_flops() + 2.0 * static_cast<double>(P_) * static_cast<double>(features());
}

PredictorMoments PathPairKernel::predict(const PathInputs& set) {
  const std::vector<double>& c = path_coefficients();
  for (const CrossPairs& cross : prepared_)
    if (cross.set == &set) return predict_prepared(cross);
  return factored_predict(set, {chol_.data(), xt_all_.data(), scale_, c.data()});
}

void PathPairKernel::prepare_predictions(const std::vector<const PathInputs*>& sets) {
  const int H = paths_, N0 = dim_, r = H * N0, pairs = H * (H + 1) / 2;
  const double s2 = scale_ * scale_;
  for (const PathInputs* set : sets) {
    ATTN_REQUIRE(set->paths == paths_ && set->dim == dim_, InputError,
                 "the '{}' set has {} paths × {} features, the training set {} × {}", set->set_name, set->paths,
                 set->dim, paths_, dim_);
    const int m = static_cast<int>(set->local.size());
    if (sz(pairs) * sz(m) * sz(P_) * sizeof(double) > automatic_path_pair_bytes) continue;  // the general route
    CrossPairs& cross = prepared_.emplace_back();
    cross.set = set;
    cross.kstar.resize(sz(pairs) * sz(m) * sz(P_));
    cross.kss.assign(sz(pairs) * sz(m), 0.0);
    for (int p = 0; p < H; ++p)
      for (int q = p; q < H; ++q) {
        const int k = pair_index(p, q);
        double* kstar = cross.kstar.data() + sz(k) * sz(m) * sz(P_);
        if (m == 0) continue;
        const double* xp = set->xt.data() + sz(p) * sz(N0);
        const double* xq = set->xt.data() + sz(q) * sz(N0);
        linalg::gemm(false, true, m, P_, N0, s2, xp, r, xt_all_.data() + sz(q) * sz(N0), r, 0.0, kstar, P_);
        if (p != q)
          linalg::gemm(false, true, m, P_, N0, s2, xq, r, xt_all_.data() + sz(p) * sz(N0), r, 1.0, kstar, P_);
        for (int i = 0; i < m; ++i) {
          double d = 0;
          for (int j = 0; j < N0; ++j) d += xp[sz(i) * sz(r) + sz(j)] * xq[sz(i) * sz(r) + sz(j)];
          cross.kss[sz(k) * sz(m) + sz(i)] = (p == q ? 1.0 : 2.0) * s2 * d;
        }
      }
  }
}

PredictorMoments PathPairKernel::predict_prepared(const CrossPairs& cross) {
  // k* = Σ_k x_k C*_k, K** = Σ_k x_k K**_k (one GEMV each); f̄ = k*·α, σ² = K** − |R^{-1} k*|²
  // (docs/model.md §3.6), the m rows' R^{-1} k* by one triangular solve X R^T = k*.
  const int m = static_cast<int>(cross.set->local.size()), pairs = static_cast<int>(coef_.size());
  std::vector<double> coef, kstar(sz(m) * sz(P_));
  symmetric_coefficients(U1_, coef);
  PredictorMoments out;
  out.mean.assign(sz(m), 0.0);
  out.var.assign(sz(m), 0.0);
  if (m == 0) return out;
  linalg::gemv(true, pairs, m * P_, 1.0, cross.kstar.data(), m * P_, coef.data(), 0.0, kstar.data());
  linalg::gemv(true, pairs, m, 1.0, cross.kss.data(), m, coef.data(), 0.0, out.var.data());
  linalg::gemv(false, m, P_, 1.0, kstar.data(), P_, alpha_.data(), 0.0, out.mean.data());
  linalg::lower_transpose_solve_right(m, P_, chol_.data(), P_, kstar.data(), P_);
  for (int q = 0; q < m; ++q)
    for (int i = 0; i < P_; ++i) out.var[sz(q)] -= kstar[sz(q) * sz(P_) + sz(i)] * kstar[sz(q) * sz(P_) + sz(i)];
  petsc::log_flops(static_cast<double>(m) * P_ * (2.0 * pairs + P_ + 4));
  return out;
}

std::vector<double> PathPairKernel::alignment(const Eigen::MatrixXd& U1, int k) {
  // The top eigenvectors of K(U_1), its lower triangle from the path pairs (docs/model.md §3.7).
  std::vector<double> kernel;
  assemble(U1, 0.0, kernel);
  return factored_alignment(kernel, y_all_, k);
}

}  // namespace attnpaths
