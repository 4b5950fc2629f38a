#include <fmt/format.h>

#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/kernels/dual.hpp"
#include "attnpaths/kernels/primal.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"

namespace attnpaths {

std::string to_string(KernelForm f) {
  switch (f) {
    case KernelForm::automatic: return "auto";
    case KernelForm::primal: return "primal";
    case KernelForm::dual: return "dual";
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

std::vector<double> RenormalizedKernel::kernel_block(const Eigen::MatrixXd& U,
                                                     const std::vector<std::int64_t>& subset) const {
  // Gather the subset's ξ rows on every rank, then K_ab = Σ_ππ' U_ππ' ξ_aπ·ξ_bπ' locally.
  const int H = paths_, N0 = dim_;
  const std::size_t m = subset.size(), row = static_cast<std::size_t>(H) * static_cast<std::size_t>(N0);
  std::vector<double> rows(m * row, 0.0);
  for (std::size_t a = 0; a < m; ++a) {
    const std::int64_t mu = subset[a];
    ATTN_REQUIRE(mu >= 0 && mu < examples_, InputError, "kernel subset index {} outside [0, {})", mu, examples_);
    if (mu >= train_.local.begin && mu < train_.local.end) {
      const double* src = train_.row(mu - train_.local.begin);
      for (std::size_t j = 0; j < row; ++j) rows[a * row + j] = scale_ * src[j];
    }
  }
  comm_.sum(rows);
  std::vector<double> out(m * m);
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b = 0; b < m; ++b) {
      double s = 0;
      for (int p = 0; p < H; ++p)
        for (int q = 0; q < H; ++q) {
          const double u = U(p, q);
          if (u == 0.0) continue;
          const double* xa = rows.data() + a * row + static_cast<std::size_t>(p) * static_cast<std::size_t>(N0);
          const double* xb = rows.data() + b * row + static_cast<std::size_t>(q) * static_cast<std::size_t>(N0);
          double d = 0;
          for (int i = 0; i < N0; ++i) d += xa[i] * xb[i];
          s += u * d;
        }
      out[a * m + b] = s;
    }
  return out;
}

std::unique_ptr<RenormalizedKernel> make_renormalized_kernel(KernelForm form, const PathInputs& train,
                                                             double sigma0_sq, const Comm& comm) {
  const std::int64_t r = static_cast<std::int64_t>(train.paths) * train.dim;
  if (resolve_kernel_form(form, train.count, r) == KernelForm::primal)
    return std::make_unique<PrimalKernel>(train, sigma0_sq, comm);
  return std::make_unique<DualKernel>(train, sigma0_sq, comm);
}

}  // namespace attnpaths
