// Minimisation of the action over the order parameters (docs/model.md §3.4). Every U_l is kept positive
// definite by optimising its Cholesky factor L_l (log of the diagonal), θ, U_l = L_l L_l^T. The stopping
// rule is on the gradient with respect to U itself: max_l max |∂S/∂U_l| < grad_tol.
//
// The descent (method newton) takes damped Newton steps in θ: the Hessian is exact, its
// eigenvalues replaced by their absolute values (saddle-free), the step capped and shortened by a
// backtracking line search on S (Armijo), or on |∇S| where S's differences are at round-off. The Hessian
// (polish = analytic, the default) comes from the energy's second derivatives in closed form
// (RenormalizedKernel::energy_hessian: one path Gram Ξ^T K_T^{-1} Ξ, ~2–4 gradients' flops, or in the
// path-pair form the example-space products R^{-1} C_ππ' R^{-T}) and the entropy's by central
// differences of its analytic gradient (no data); or (differences) by one-sided differences of the
// analytic gradient, one evaluation per unknown. Method lmvm is the earlier descent: TAO's LMVM
// (limited-memory quasi-Newton) with a backtracking Armijo line search (PETSc options with the prefix
// -theory_ reach it, e.g. -theory_tao_monitor); at large α = P/N the Hessian is ill-conditioned and it
// needs hundreds of evaluations (458 at P = 1e4, N = 1, against 28 with newton) or stalls; when it stalls
// short of the rule the Newton descent continues from its last point. Method automatic (the default)
// picks newton where a Hessian is cheap next to an evaluation (the dual form, or the primal form when P
// is not much smaller than r) and lmvm elsewhere (the primal form at P ≪ r, and the path-pair form, e.g.
// the default task at P = 100: one Hessian costs ~29 evaluations there and LMVM needs only ~4× as many
// evaluations).
//
// Near the minimum, differences of S fall below double precision long before the gradient reaches
// round-off (S ~ 10, so a function-value line search stalls near |∂S/∂U| ~ 1e-8). After the
// stopping rule is met the minimiser therefore "polishes" with Newton steps on ∇S = 0 down to
// polish_tol, the step length chosen on the gradient norm. Conjugate gradients on Hessian–vector
// products were tried: the Hessian is too ill-conditioned (517 evaluations instead of 395 on the image
// task). Either way the result is the minimiser itself to round-off, whatever the rank count, the
// kernel form or the path taken — the condition for reproducible, comparable numbers.
#pragma once

#include <string>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/theory/action.hpp"

namespace attnpaths {

enum class PolishMethod { analytic, differences };
enum class MinimiserMethod { automatic, newton, lmvm };
std::string to_string(MinimiserMethod m);
MinimiserMethod parse_minimiser_method(const std::string& s);  // "auto" | "newton" | "lmvm"
std::string to_string(PolishMethod m);
PolishMethod parse_polish_method(const std::string& s);  // "analytic" | "differences"

struct MinimiserOptions {
  double grad_tol = 1e-5;        // stopping rule (the reference's), decides `converged`
  double polish_tol = 1e-10;     // Newton polishing target after the rule is met (0 = no polishing)
  MinimiserMethod method = MinimiserMethod::automatic;  // the descent before the polish
  int max_iterations = 5000;     // Newton or quasi-Newton iterations
  int polish_max_parameters = 400;  // differences: skip polishing beyond this many parameters
  PolishMethod polish = PolishMethod::analytic;  // how the polish's Hessian is computed
};

struct MinimiserResult {
  OrderParameters op;
  ActionValue value;        // at op (with gradient)
  int iterations = 0;        // Newton (or quasi-Newton) iterations until the stopping rule
  int newton_steps = 0;      // polishing steps
  int evaluations = 0;       // action + gradient evaluations in all
  bool converged = false;
  std::string reason;       // why it stopped, e.g. "max|dS/dU| = 3.1e-06 < 1e-05"
};

// The descent `requested` resolves to for this kernel: automatic is newton when one energy Hessian
// (RenormalizedKernel::energy_hessian_flops) costs at most newton_cost_ratio evaluations, else lmvm.
constexpr double newton_cost_ratio = 5;
MinimiserMethod resolve_minimiser(MinimiserMethod requested, const RenormalizedKernel& kernel);

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
