// The order-parameter hierarchy of the finite-width theory (docs/model.md §3.2–3.5): U_1 … U_L
// (symmetric PD; U_l indexed by (h_l slowest, …, h_L fastest), size Π_{k≥l} H_k) and the scalar
// U_a, eliminated in closed form. The entropy S_ent and its gradient are here; the energy lives in
// kernels/ because it needs the data.
#pragma once

#include <Eigen/Dense>

#include <vector>

#include "attnpaths/model/architecture.hpp"

namespace attnpaths {

struct OrderParameters {
  std::vector<Eigen::MatrixXd> U;  // U[l-1] = U_l, l = 1..L
  double Ua = 0;
  const Eigen::MatrixXd& U1() const { return U.front(); }
};

// The GP (infinite-width) point (§3.5): U_a = σa², U_l = σa² Π_{k≥l} σk² · I.
OrderParameters gp_point(const Architecture& arch);

// U_1 at the GP point, σa² Π_{l=1..L} σl² · I_{paths}, from the variances σ0², …, σL², σa².
Eigen::MatrixXd gp_U1(const std::vector<double>& variances, int paths);

// U_a = (−β + sqrt(β² + 4γ))/2, β = σa²(H_L n_L/N_a − 1), γ = Tr(U_L) n_L σa²/(N_a σL²)   (§3.3)
double closed_form_Ua(const Architecture& arch, const Eigen::MatrixXd& UL);

// Partial trace over the slowest index (of size `heads`): (Tr_h U)_{H,H'} = Σ_h U_{(h,H),(h,H')}.
Eigen::MatrixXd partial_trace(const Eigen::MatrixXd& U, int heads);

// S_ent at `op` (with op.Ua as given; callers set it with closed_form_Ua) — unnormalised, §3.3.
// If `gradient` is non-null, fills ∂S_ent/∂U_l (§3.4; U_a stationary, so no chain rule).
// Throws NumericalError if some U_l is not positive definite.
double entropy(const Architecture& arch, const OrderParameters& op, std::vector<Eigen::MatrixXd>* gradient);

}  // namespace attnpaths
