// The action of the finite-width theory (docs/model.md §3.3): S = (E + S_ent) / max_l w_l with
// E = log det K_T + y^T K_T^{-1} y from the renormalised kernel and U_a in closed form.
#pragma once

#include <vector>

#include "attnpaths/kernels/renormalized_kernel.hpp"
#include "attnpaths/theory/order_parameters.hpp"

namespace attnpaths {

struct ActionValue {
  double action = 0, energy = 0, entropy = 0;  // all divided by max_l w_l
  std::vector<Eigen::MatrixXd> gradient;       // ∂S/∂U_l, l = 1..L (normalised like S)
  double grad_max = 0;                         // max over l and entries of |∂S/∂U_l|
};

// ∂²E/∂U_1∂U_1 (unnormalised) from G = Ξ^T K_T^{-1} Ξ [r×r] and c = Ξ^T α (docs/model.md §3.4,
// differentiated once more): with G_ab the N0×N0 path blocks and c_a the path pieces of c,
//   ∂²E/∂U_ab ∂U_cd = −tr(G_bc G_da) + c_b^T G_ac c_d + c_a^T G_bc c_d,
// as an H²×H² matrix, row (a,b) = a·H + b, column (c,d). Cost r²·H² + 2 r·N0·H² flops.
Eigen::MatrixXd energy_hessian(const std::vector<double>& G, const std::vector<double>& c, int paths, int dim);

class Action {
 public:
  Action(const Architecture& arch, RenormalizedKernel& kernel, double temperature);
  // Sets op.Ua to its closed form, then evaluates S (and ∂S/∂U_l). Collective over the kernel's comm.
  ActionValue evaluate(OrderParameters& op, bool with_gradient);
  // After evaluate(): ∂²S/∂U_1∂U_1 of the energy part (normalised like S), H²×H² (energy_hessian).
  Eigen::MatrixXd energy_hessian();
  const Architecture& architecture() const { return arch_; }
  const RenormalizedKernel& kernel() const { return kernel_; }
  double temperature() const { return temperature_; }

 private:
  const Architecture& arch_;
  RenormalizedKernel& kernel_;
  double temperature_;
};

}  // namespace attnpaths
