#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/eigen.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/linalg.hpp"
#include "attnpaths/core/parallel.hpp"
#include "attnpaths/core/petsc.hpp"
#include "attnpaths/kernels/dual.hpp"
#include "attnpaths/kernels/path_pairs.hpp"
#include "attnpaths/kernels/primal.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"

namespace attnpaths {

std::string to_string(KernelForm f) {
  switch (f) {
    case KernelForm::automatic: return "auto";
    case KernelForm::primal: return "primal";
    case KernelForm::dual: return "dual";
    case KernelForm::path_pairs: return "path-pairs";
  }
  return "?";
}

KernelForm parse_kernel_form(const std::string& s) {
  if (s == "auto") return KernelForm::automatic;
  if (s == "primal") return KernelForm::primal;
  if (s == "dual") return KernelForm::dual;
  if (s == "path-pairs") return KernelForm::path_pairs;
  throw InputError(fmt::format("unknown kernel form '{}' (expected auto, primal, dual or path-pairs)", s));
}

KernelForm resolve_kernel_form(KernelForm requested, std::int64_t P, int paths, std::int64_t r) {
  if (requested != KernelForm::automatic) return requested;
  if (P > r) return KernelForm::dual;
  // Path pairs where one evaluation costs fewer flops than the primal's and its kernels are small
  // (replicated on every rank, and streamed twice per evaluation: kept within the cache's order).
  if (path_pair_evaluation_flops(P, paths) < primal_evaluation_flops(P, r) &&
      path_pair_bytes(P, paths) <= automatic_path_pair_bytes)
    return KernelForm::path_pairs;
  return KernelForm::primal;
}

double primal_evaluation_flops(std::int64_t P, std::int64_t r) {
  const double p = static_cast<double>(P);
  return 2 * p * p * static_cast<double>(r) + p * p * p / 3;
}

double path_pair_evaluation_flops(std::int64_t P, int paths) {
  const double p = static_cast<double>(P), h = paths;
  return 2.0 / 3.0 * p * p * p + h * h * p * p / 2;
}

double path_input_scale(double sigma0_sq, int N0, int paths) {
  return std::sqrt(sigma0_sq / (static_cast<double>(N0) * static_cast<double>(paths)));
}

void RenormalizedKernel::factor(const Eigen::MatrixXd& U1, double temperature) {
  // One rank's U_1 differing in a bit must not let the others skip a collective factorisation.
  const bool same = factored_ && temperature == temperature_ && U1.rows() == U1_.rows() && U1.cols() == U1_.cols() &&
                    U1 == U1_;
  if (comm_.size() == 1 ? same : comm_.min(std::int64_t{same ? 1 : 0}) == 1) return;
  factored_ = false;
  factor_kernel(U1, temperature);
  factored_ = true;
  ++factorizations_;
}

RenormalizedKernel::RenormalizedKernel(const PathInputs& train, double sigma0_sq, const Comm& comm)
    : train_(train), comm_(comm), scale_(path_input_scale(sigma0_sq, train.dim, train.paths)), paths_(train.paths),
      dim_(train.dim), examples_(train.count) {
  ATTN_REQUIRE(sigma0_sq > 0, InputError, "the input-layer prior variance σ0² must be positive (got {})", sigma0_sq);
  ATTN_REQUIRE(train.count > 0, InputError, "the training set is empty");
}

void RenormalizedKernel::right_multiply(const double* M, const double* x, std::int64_t rows, double scale,
                                        double* out) const {
  // H is small (a few paths): contiguous N0-long axpys beat one tiny BLAS call per row.
  const std::size_t H = static_cast<std::size_t>(paths_), n = static_cast<std::size_t>(dim_), r = H * n;
  for (std::int64_t mu = 0; mu < rows; ++mu) {
    const double* xr = x + static_cast<std::size_t>(mu) * r;
    double* o = out + static_cast<std::size_t>(mu) * r;
    for (std::size_t a = 0; a < H; ++a) {
      double* oa = o + a * n;
      std::fill(oa, oa + n, 0.0);
      for (std::size_t p = 0; p < H; ++p) {
        const double m = scale * M[p * H + a];
        if (m == 0.0) continue;
        const double* xp = xr + p * n;
#pragma omp simd
        for (std::size_t i = 0; i < n; ++i) oa[i] += m * xp[i];
      }
    }
  }
}

void RenormalizedKernel::add_block_traces(const double* a, const double* b, std::int64_t rows, int dim,
                                          double* g) const {
  const std::size_t H = static_cast<std::size_t>(paths_), n = static_cast<std::size_t>(dim), r = H * n;
  for (std::int64_t mu = 0; mu < rows; ++mu) {
    const double* ar = a + static_cast<std::size_t>(mu) * r;
    const double* br = b + static_cast<std::size_t>(mu) * r;
    for (std::size_t p = 0; p < H; ++p)
      for (std::size_t q = 0; q < H; ++q) {
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (std::size_t i = 0; i < n; ++i) s += ar[p * n + i] * br[q * n + i];
        g[p * H + q] += s;
      }
  }
}

std::vector<double> RenormalizedKernel::square_root(const Eigen::MatrixXd& U) const {
  const int H = paths_;
  std::vector<double> l(static_cast<size_t>(H * H));
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < H; ++j) l[static_cast<size_t>(i * H + j)] = U(i, j);
  if (linalg::cholesky(H, l.data(), H)) return l;
  // Semi-definite U (e.g. a pruned order parameter): L = V sqrt(max(D, 0)).
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(U);
  const double tol = 1e-12 * std::max(1.0, es.eigenvalues().cwiseAbs().maxCoeff());
  ATTN_REQUIRE(es.eigenvalues().minCoeff() >= -tol, NumericalError,
               "U_1 is not positive semi-definite (smallest eigenvalue {}): the kernel K(U_1) + Temp·I is not "
               "positive definite",
               es.eigenvalues().minCoeff());
  const Eigen::MatrixXd L = es.eigenvectors() * es.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal();
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < H; ++j) l[static_cast<size_t>(i * H + j)] = L(i, j);
  return l;
}

void RenormalizedKernel::factored_path_gram(const Factored& f, std::vector<double>& work,
                                            std::vector<double>& G) const {
  // G = W^T W with W = R^{-1} Ξ = row_scale · R^{-1} rows (every rank), this rank's rows of G, then gathered.
  const int n = static_cast<int>(examples_), r = static_cast<int>(features());
  const double s2 = f.row_scale * f.row_scale;
  work.assign(f.rows, f.rows + sz(n) * sz(r));
  linalg::lower_solve(n, r, f.chol, n, work.data(), r);
  petsc::log_flops(static_cast<double>(n) * n * r);
  if (comm_.size() == 1) {  // one rank: SYRK, half the flops of the GEMM below
    G.assign(sz(r) * sz(r), 0.0);
    linalg::syrk(true, r, n, s2, work.data(), r, 0.0, G.data(), r);
    petsc::log_flops(static_cast<double>(r) * r * n);
    return;
  }
  const Range rows = block_range(r, comm_.rank(), comm_.size());
  std::vector<double> block(sz(rows.size()) * sz(r));
  if (rows.size() > 0)
    linalg::gemm(true, false, static_cast<int>(rows.size()), r, n, s2, work.data() + rows.begin, r, work.data(), r, 0.0,
                 block.data(), r);
  petsc::log_flops(2.0 * static_cast<double>(rows.size()) * r * n);
  G = comm_.allgather_blocks(block);
}

double RenormalizedKernel::factored_path_gram_flops() const {
  const double P = static_cast<double>(examples_), r = static_cast<double>(features());
  return P * P * r + r * r * P;
}

// Test rows per chunk of the predictor: a chunk's ξ*(U_1 ⊗ I) stays in cache between its uses.
constexpr std::int64_t predict_chunk = 64;

PredictorMoments RenormalizedKernel::factored_predict(const PathInputs& set, const Factored& f) const {
  ATTN_REQUIRE(set.paths == paths_ && set.dim == dim_, InputError,
               "the '{}' set has {} paths × {} features, the training set {} × {}", set.set_name, set.paths, set.dim,
               paths_, dim_);
  const std::int64_t m = set.local.size(), chunks = (m + predict_chunk - 1) / predict_chunk;
  PredictorMoments out;
  out.mean.resize(sz(m));
  out.var.resize(sz(m));
  const RowMajorMatrix u = U1_;
  // Fixed chunks of the local test rows in parallel, the BLAS serial in each (core/parallel.hpp).
  std::vector<std::vector<double>> contracted(sz(blas_loop_threads(chunks))), kstar(contracted.size());
  blas_parallel_for(chunks, [&](std::int64_t k, int thread) {
    const std::int64_t q0 = k * predict_chunk;
    factored_predict_rows(set, f, u.data(), q0, static_cast<int>(std::min(m, q0 + predict_chunk) - q0),
                          contracted[sz(thread)], kstar[sz(thread)], out);
  });
  return out;
}

void RenormalizedKernel::factored_predict_rows(const PathInputs& set, const Factored& f, const double* u,
                                               std::int64_t q0, int b, std::vector<double>& contracted,
                                               std::vector<double>& kstar, PredictorMoments& out) const {
  const std::int64_t P = examples_;
  const int r = static_cast<int>(features()), n = static_cast<int>(P);
  // ξ* (U_1 ⊗ I) for the rows: f̄ = ·c (= y^T K_T^{-1} k*), K** = ·ξ*  (no communication)
  contracted.resize(sz(b) * sz(r));
  right_multiply(u, set.row(q0), b, scale_, contracted.data());
  for (int q = 0; q < b; ++q) {
    const double* a = contracted.data() + sz(q) * sz(r);
    const double* x = set.row(q0 + q);
    double mean = 0, kss = 0;
    for (int j = 0; j < r; ++j) {
      mean += a[j] * f.c[j];
      kss += a[j] * scale_ * x[j];
    }
    out.mean[sz(q0 + q)] = mean;
    out.var[sz(q0 + q)] = kss;
  }
  // σ² = K** − |R^{-1} k*|², k*^T = Ξ (ξ*(U_1⊗I))^T [P × b]
  kstar.resize(sz(P) * sz(b));
  linalg::gemm(false, true, n, b, r, f.row_scale, f.rows, r, contracted.data(), r, 0.0, kstar.data(), b);
  linalg::lower_solve(n, b, f.chol, n, kstar.data(), b);
  for (std::int64_t mu = 0; mu < P; ++mu)
    for (int q = 0; q < b; ++q) {
      const double v = kstar[sz(mu) * sz(b) + sz(q)];
      out.var[sz(q0 + q)] -= v * v;
    }
}

std::vector<double> RenormalizedKernel::factored_alignment(std::vector<double>& kernel, const std::vector<double>& y,
                                                           int k) const {
  // Eigenpairs of K(U_1) (no Temp), replicated on every rank, by decreasing eigenvalue.
  const int n = static_cast<int>(examples_);
  std::vector<double> values, vectors;
  linalg::top_symmetric_eigen(n, kernel.data(), n, k, values, vectors);
  std::vector<double> overlap;
  const double top = values.empty() ? 0.0 : values.back();
  const int m = static_cast<int>(values.size());
  for (int j = m - 1; j >= 0; --j) {
    if (values[sz(j)] <= 1e-12 * top) break;  // beyond the kernel's rank
    double dot = 0;
    for (int i = 0; i < n; ++i) dot += vectors[sz(i) * sz(m) + sz(j)] * y[sz(i)];
    overlap.push_back(std::abs(dot) / std::sqrt(static_cast<double>(n)));
  }
  return overlap;
}

Eigen::MatrixXd path_gram_hessian(const std::vector<double>& G, const std::vector<double>& c, int paths, int dim) {
  const std::size_t H = static_cast<std::size_t>(paths), n = static_cast<std::size_t>(dim), r = H * n;
  const int h = paths, h2 = paths * paths, ri = static_cast<int>(r);
  ATTN_REQUIRE(G.size() == r * r && c.size() == r, LibraryError, "internal: path Gram of the wrong size");
  // tr(G_bc G_da) = Σ_ij X[(b,c),(i,j)] X[(a,d),(i,j)] with X[(a,d),(i,j)] = G[(a,i),(d,j)]: Y = X X^T.
  std::vector<double> X(r * r), Y(H * H * H * H);
  for (std::size_t a = 0; a < H; ++a)
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t d = 0; d < H; ++d)
        std::copy_n(&G[(a * n + i) * r + d * n], n, &X[((a * H + d) * n + i) * n]);
  linalg::syrk(false, h2, static_cast<int>(n * n), 1.0, X.data(), static_cast<int>(n * n), 0.0, Y.data(), h2);
  // R[a,b,c,d] = c_b^T G_ac c_d: GC[(a,i,c),d] = Σ_j G[(a,i),(c,j)] C[j,d] (C[j,d] = c_d[j]), then C^T GC_a.
  std::vector<double> C(n * H), GC(r * H * H), R(H * H * H * H);
  for (std::size_t d = 0; d < H; ++d)
    for (std::size_t j = 0; j < n; ++j) C[j * H + d] = c[d * n + j];
  linalg::gemm(false, false, ri * h, h, dim, 1.0, G.data(), dim, C.data(), h, 0.0, GC.data(), h);
  for (std::size_t a = 0; a < H; ++a)
    linalg::gemm(true, false, h, h2, dim, 1.0, C.data(), h, &GC[a * n * H * H], h2, 0.0, &R[a * H * H * H], h2);
  Eigen::MatrixXd E(h2, h2);
  const auto at = [H](std::size_t a, std::size_t b, std::size_t c2, std::size_t d) { return ((a * H + b) * H + c2) * H + d; };
  for (std::size_t a = 0; a < H; ++a)
    for (std::size_t b = 0; b < H; ++b)
      for (std::size_t c2 = 0; c2 < H; ++c2)
        for (std::size_t d = 0; d < H; ++d)
          E(static_cast<Eigen::Index>(a * H + b), static_cast<Eigen::Index>(c2 * H + d)) =
              -Y[(b * H + c2) * H * H + a * H + d] + R[at(a, b, c2, d)] + R[at(b, a, c2, d)];
  return E;
}

Eigen::MatrixXd RenormalizedKernel::energy_hessian() {
  std::vector<double> G, c;
  path_gram(G, c);
  return path_gram_hessian(G, c, paths_, dim_);
}

double RenormalizedKernel::energy_hessian_flops() const {
  const double r = static_cast<double>(features()), H = paths_;
  return path_gram_flops() + r * r * H * H;
}

std::vector<double> RenormalizedKernel::kernel_block(const Eigen::MatrixXd& U,
                                                     const std::vector<std::int64_t>& subset) const {
  // Gather the subset's x̃ rows on every rank, then K_sub = Ξ_sub (U ⊗ I) Ξ_sub^T (one GEMM).
  const std::size_t m = subset.size(), r = static_cast<std::size_t>(paths_) * static_cast<std::size_t>(dim_);
  std::vector<double> rows(m * r, 0.0);
  std::int64_t missing = -1;
  for (std::size_t a = 0; a < m; ++a) {
    const std::int64_t mu = subset[a];
    ATTN_REQUIRE(mu >= 0 && mu < examples_, InputError, "kernel subset index {} outside [0, {})", mu, examples_);
    bool found = !(mu >= train_.local.begin && mu < train_.local.end);
    if (!found && !train_.xt.empty()) {
      std::copy_n(train_.row(mu - train_.local.begin), r, rows.data() + a * r);
      found = true;
    }
    for (std::size_t k = 0; k < kept_index_.size() && !found; ++k)
      if (kept_index_[k] == mu) {
        std::copy_n(kept_rows_.data() + k * r, r, rows.data() + a * r);
        found = true;
      }
    if (!found) missing = mu;
  }
  if (comm_.any(missing >= 0))  // every rank throws
    throw LibraryError("internal: a training example of the kernel subset was not kept while streaming");
  comm_.sum(rows);
  const std::vector<double> u = row_major(U);
  std::vector<double> contracted(m * r), out(m * m);
  right_multiply(u.data(), rows.data(), static_cast<std::int64_t>(m), scale_ * scale_, contracted.data());
  const int mi = static_cast<int>(m), ri = static_cast<int>(r);
  if (m > 0) linalg::gemm(false, true, mi, mi, ri, 1.0, contracted.data(), ri, rows.data(), ri, 0.0, out.data(), mi);
  return out;
}

std::unique_ptr<RenormalizedKernel> make_renormalized_kernel(KernelForm form, const PathInputs& train,
                                                             double sigma0_sq, const Comm& comm) {
  const std::int64_t r = static_cast<std::int64_t>(train.paths) * train.dim;
  switch (resolve_kernel_form(form, train.count, train.paths, r)) {
    case KernelForm::path_pairs: return std::make_unique<PathPairKernel>(train, sigma0_sq, comm);
    case KernelForm::primal: return std::make_unique<PrimalKernel>(train, sigma0_sq, comm);
    default: return std::make_unique<DualKernel>(train, sigma0_sq, comm);
  }
}

}  // namespace attnpaths
