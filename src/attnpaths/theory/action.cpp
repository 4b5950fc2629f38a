#include "attnpaths/theory/action.hpp"

#include "attnpaths/core/error.hpp"

namespace attnpaths {

Action::Action(const Architecture& arch, RenormalizedKernel& kernel, double temperature)
    : arch_(arch), kernel_(kernel), temperature_(temperature) {
  ATTN_REQUIRE(temperature > 0, InputError, "the temperature must be positive (got {})", temperature);
  ATTN_REQUIRE(arch.paths() == kernel.paths(), InputError, "the network has {} paths but the data's attention has {}",
               arch.paths(), kernel.paths());
}

ActionValue Action::evaluate(OrderParameters& op, bool with_gradient) {
  op.Ua = closed_form_Ua(arch_, op.U.back());
  const double norm = 1.0 / arch_.max_width();
  ActionValue v;
  kernel_.factor(op.U1(), temperature_);
  v.energy = (kernel_.log_det() + kernel_.data_fit()) * norm;
  v.entropy = entropy(arch_, op, with_gradient ? &v.gradient : nullptr) * norm;
  v.action = v.energy + v.entropy;
  if (with_gradient) {
    v.gradient.front() += kernel_.energy_gradient();
    for (auto& g : v.gradient) {
      g *= norm;
      v.grad_max = std::max(v.grad_max, g.cwiseAbs().maxCoeff());
    }
  }
  return v;
}

Eigen::MatrixXd Action::energy_hessian() { return kernel_.energy_hessian() / arch_.max_width(); }

}  // namespace attnpaths
