#include "attnpaths/theory/order_parameters.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"

namespace attnpaths {

OrderParameters gp_point(const Architecture& arch) {
  OrderParameters op;
  const int L = arch.depth();
  op.U.resize(static_cast<size_t>(L));
  double scale = arch.sigma_a_sq();
  for (int l = L; l >= 1; --l) {
    scale *= arch.sigma_sq(l);
    const int d = arch.order(l);
    op.U[static_cast<size_t>(l - 1)] = scale * Eigen::MatrixXd::Identity(d, d);
  }
  op.Ua = closed_form_Ua(arch, op.U.back());
  return op;
}

Eigen::MatrixXd gp_U1(const std::vector<double>& variances, int paths) {
  double scale = 1.0;
  for (std::size_t i = 1; i < variances.size(); ++i) scale *= variances[i];  // σ1² … σL² σa²
  return scale * Eigen::MatrixXd::Identity(paths, paths);
}

double closed_form_Ua(const Architecture& arch, const Eigen::MatrixXd& UL) {
  const int L = arch.depth();
  const double sa = arch.sigma_a_sq(), nL = arch.n(L), Na = arch.width_a();
  const double beta = sa * (arch.heads.back() * nL / Na - 1.0);
  const double gamma = UL.trace() * nL * sa / (Na * arch.sigma_sq(L));
  return 0.5 * (-beta + std::sqrt(beta * beta + 4.0 * gamma));
}

Eigen::MatrixXd partial_trace(const Eigen::MatrixXd& U, int heads) {
  const Eigen::Index d = U.rows() / heads;
  Eigen::MatrixXd t = Eigen::MatrixXd::Zero(d, d);
  for (int h = 0; h < heads; ++h) t += U.block(h * d, h * d, d, d);
  return t;
}

namespace {
// Cholesky of an order parameter; throws if it is not positive definite.
Eigen::LLT<Eigen::MatrixXd> factor_order_parameter(const Eigen::MatrixXd& U, int l) {
  Eigen::LLT<Eigen::MatrixXd> llt(U);
  ATTN_REQUIRE(llt.info() == Eigen::Success && U.allFinite(), NumericalError,
               "the order parameter U_{} is not positive definite", l);
  return llt;
}

double log_det(const Eigen::LLT<Eigen::MatrixXd>& llt) {
  return 2.0 * llt.matrixLLT().diagonal().array().log().sum();
}
}  // namespace

double entropy(const Architecture& arch, const OrderParameters& op, std::vector<Eigen::MatrixXd>* gradient) {
  const int L = arch.depth();
  ATTN_REQUIRE(static_cast<int>(op.U.size()) == L, LibraryError, "internal: {} order parameters for L = {}",
               op.U.size(), L);
  ATTN_REQUIRE(op.Ua > 0, NumericalError, "the scalar order parameter U_a = {} is not positive", op.Ua);
  std::vector<Eigen::LLT<Eigen::MatrixXd>> llt;
  std::vector<Eigen::MatrixXd> inverse;
  for (int l = 1; l <= L; ++l) {
    llt.push_back(factor_order_parameter(op.U[static_cast<size_t>(l - 1)], l));
    inverse.push_back(llt.back().solve(Eigen::MatrixXd::Identity(arch.order(l), arch.order(l))));
  }
  // U_{L+1} ≡ U_a (1×1), H_{L+1} ≡ 1, σ_{L+1} ≡ σa.
  const Eigen::MatrixXd Ua = Eigen::MatrixXd::Constant(1, 1, op.Ua);
  const Eigen::MatrixXd Ua_inv = Eigen::MatrixXd::Constant(1, 1, 1.0 / op.Ua);
  auto next_inverse = [&](int l) -> const Eigen::MatrixXd& { return l < L ? inverse[static_cast<size_t>(l)] : Ua_inv; };
  auto next_log_det = [&](int l) { return l < L ? log_det(llt[static_cast<size_t>(l)]) : std::log(op.Ua); };

  double s = arch.width_a() * (op.Ua / arch.sigma_a_sq() - std::log(op.Ua));
  for (int l = 1; l <= L; ++l) {
    const Eigen::MatrixXd& U = op.U[static_cast<size_t>(l - 1)];
    const int H = arch.heads[static_cast<size_t>(l - 1)];
    const Eigen::MatrixXd traced = partial_trace(U, H);
    s += arch.n(l) * ((next_inverse(l) * traced).trace() / arch.sigma_sq(l) - log_det(llt[static_cast<size_t>(l - 1)]) +
                      H * next_log_det(l));
  }
  if (gradient) {
    gradient->assign(static_cast<size_t>(L), Eigen::MatrixXd());
    for (int l = 1; l <= L; ++l) {
      const int H = arch.heads[static_cast<size_t>(l - 1)];
      const Eigen::MatrixXd& Uinv = inverse[static_cast<size_t>(l - 1)];
      // n_l [ (I_{H_l} ⊗ U_{l+1}^{-1})/σl² − U_l^{-1} ]
      Eigen::MatrixXd g = -Uinv;
      const Eigen::MatrixXd& next = next_inverse(l);
      for (int h = 0; h < H; ++h)
        g.block(h * next.rows(), h * next.rows(), next.rows(), next.cols()) += next / arch.sigma_sq(l);
      g *= arch.n(l);
      // + n_{l-1} [ H_{l-1} U_l^{-1} − U_l^{-1} (Tr_{h_{l-1}} U_{l-1}) U_l^{-1} / σ_{l-1}² ]   (l ≥ 2)
      if (l >= 2) {
        const int Hp = arch.heads[static_cast<size_t>(l - 2)];
        const Eigen::MatrixXd traced = partial_trace(op.U[static_cast<size_t>(l - 2)], Hp);
        g += arch.n(l - 1) * (Hp * Uinv - Uinv * traced * Uinv / arch.sigma_sq(l - 1));
      }
      (*gradient)[static_cast<size_t>(l - 1)] = 0.5 * (g + g.transpose());
    }
  }
  return s;
}

}  // namespace attnpaths
