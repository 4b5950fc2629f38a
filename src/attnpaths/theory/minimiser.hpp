// Minimisation of the action over the order parameters (docs/model.md §3.4). Every U_l is kept positive
// definite by optimising its Cholesky factor L_l (log of the diagonal), U_l = L_l L_l^T, with TAO
// (default LMVM, a limited-memory quasi-Newton method, with a backtracking Armijo line search; PETSc options
// with the prefix -theory_ reach it, e.g. -theory_tao_monitor). The stopping rule is on the
// gradient with respect to U itself: max_l max |∂S/∂U_l| < grad_tol.
//
// Near the minimum, differences of S fall below double precision long before the gradient reaches
// round-off (S ~ 10, so a function-value line search stalls near |∂S/∂U| ~ 1e-8). After the
// stopping rule is met the minimiser therefore "polishes" with Newton steps on ∇S = 0 down to
// polish_tol, the step length chosen on the gradient norm, the direction from the Hessian with the
// saddle-free |λ|. The Hessian (polish = analytic, the default) comes from the energy's second
// derivatives in closed form (energy_hessian, one path Gram Ξ^T K_T^{-1} Ξ, ~2–4 gradients' flops)
// and the entropy's by central differences of its analytic gradient (no data); or (differences, the
// earlier method) by one-sided differences of the analytic gradient, one evaluation per unknown.
// Conjugate gradients on Hessian–vector products were tried: the Hessian is too ill-conditioned
// (517 evaluations instead of 395 on the image task). Either way the result is the minimiser
// itself to round-off, whatever the rank count, the kernel form or the path taken — the condition
// for reproducible, comparable numbers.
#pragma once

#include <string>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/theory/action.hpp"

namespace attnpaths {

enum class PolishMethod { analytic, differences };
std::string to_string(PolishMethod m);
PolishMethod parse_polish_method(const std::string& s);  // "analytic" | "differences"

struct MinimiserOptions {
  double grad_tol = 1e-5;        // stopping rule (the reference's), decides `converged`
  double polish_tol = 1e-10;     // Newton polishing target after the rule is met (0 = no polishing)
  int max_iterations = 5000;     // quasi-Newton iterations
  int polish_max_parameters = 400;  // differences: skip polishing beyond this many parameters
  PolishMethod polish = PolishMethod::analytic;  // how the polish's Hessian is computed
};

struct MinimiserResult {
  OrderParameters op;
  ActionValue value;        // at op (with gradient)
  int iterations = 0;        // quasi-Newton iterations
  int newton_steps = 0;      // polishing steps
  int evaluations = 0;       // action + gradient evaluations in all
  bool converged = false;
  std::string reason;       // why it stopped, e.g. "max|dS/dU| = 3.1e-06 < 1e-05"
};

// Minimises from `start` (usually the GP point). Collective over `comm`. Throws NumericalError on a
// numerical failure; non-convergence is returned (converged = false, reason), never thrown.
MinimiserResult minimise_action(Action& action, const OrderParameters& start, const MinimiserOptions& options,
                                const Comm& comm);

// The parameterisation, exposed for tests: θ (log-diagonal lower Cholesky factors, layer by layer)
// <-> order parameters, and the chain rule from ∂S/∂U_l to ∂S/∂θ.
std::vector<double> cholesky_parameters(const OrderParameters& op);
OrderParameters order_parameters_from(const std::vector<double>& theta, const Architecture& arch);
std::vector<double> parameter_gradient(const std::vector<double>& theta, const Architecture& arch,
                                       const std::vector<Eigen::MatrixXd>& gradient_U);


}  // namespace attnpaths
