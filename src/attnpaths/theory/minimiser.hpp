// Minimisation of the action over the order parameters (docs/model.md §3.4). Every U_l is kept positive
// definite by optimising its Cholesky factor L_l (log of the diagonal), U_l = L_l L_l^T, with TAO
// (default LMVM, a limited-memory quasi-Newton method, with a backtracking Armijo line search; PETSc options
// with the prefix -theory_ reach it, e.g. -theory_tao_monitor). The stopping rule is on the
// gradient with respect to U itself: max_l max |∂S/∂U_l| < grad_tol.
//
// Near the minimum, differences of S fall below double precision long before the gradient reaches
// round-off (S ~ 10, so a function-value line search stalls near |∂S/∂U| ~ 1e-8). After the
// stopping rule is met the minimiser therefore "polishes" with Newton steps on ∇S = 0 (Hessian by
// one-sided differences of the analytic gradient, step length chosen on the gradient norm) down to
// polish_tol: the result is then the minimiser itself to round-off, whatever the rank count, the
// kernel form or the path taken — the condition for reproducible, comparable numbers.
#pragma once

#include <string>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/theory/action.hpp"

namespace attnpaths {

struct MinimiserOptions {
  double grad_tol = 1e-5;        // stopping rule (the reference's), decides `converged`
  double polish_tol = 1e-10;     // Newton polishing target after the rule is met (0 = no polishing)
  int max_iterations = 5000;     // quasi-Newton iterations
  int polish_max_parameters = 400;  // skip polishing beyond this many parameters (Hessian cost)
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
