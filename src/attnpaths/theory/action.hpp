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

class Action {
 public:
  Action(const Architecture& arch, RenormalizedKernel& kernel, double temperature);
  // Sets op.Ua to its closed form, then evaluates S (and ∂S/∂U_l). Collective over the kernel's comm.
  ActionValue evaluate(OrderParameters& op, bool with_gradient);
  // After evaluate(): ∂²S/∂U_1∂U_1 of the energy part (normalised like S), H²×H²
  // (RenormalizedKernel::energy_hessian).
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
