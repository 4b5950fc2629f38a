#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/eigen.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/linalg.hpp"
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
  throw InputError(fmt::format("unknown kernel form '{}' (expected auto, primal or dual)", s));
}

KernelForm resolve_kernel_form(KernelForm requested, std::int64_t P, std::int64_t r) {
  if (requested != KernelForm::automatic) return requested;
  return P <= r ? KernelForm::primal : KernelForm::dual;
}

double path_input_scale(double sigma0_sq, int N0, int paths) {
  return std::sqrt(sigma0_sq / (static_cast<double>(N0) * static_cast<double>(paths)));
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
  if (form == KernelForm::path_pairs) return std::make_unique<PathPairKernel>(train, sigma0_sq, comm);
  if (resolve_kernel_form(form, train.count, r) == KernelForm::primal)
    return std::make_unique<PrimalKernel>(train, sigma0_sq, comm);
  return std::make_unique<DualKernel>(train, sigma0_sq, comm);
}

}  // namespace attnpaths
