#include "attnpaths/theory/minimiser.hpp"

#include <fmt/format.h>

#include <cmath>
#include <exception>
#include <functional>
#include <limits>
#include <string>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/petsc.hpp"

namespace attnpaths {

std::vector<double> cholesky_parameters(const OrderParameters& op) {
  std::vector<double> theta;
  for (const auto& U : op.U) {
    Eigen::LLT<Eigen::MatrixXd> llt(U);
    ATTN_REQUIRE(llt.info() == Eigen::Success, NumericalError, "starting order parameter is not positive definite");
    const Eigen::MatrixXd L = llt.matrixL();
    for (Eigen::Index i = 0; i < L.rows(); ++i)
      for (Eigen::Index j = 0; j <= i; ++j) theta.push_back(i == j ? std::log(L(i, i)) : L(i, j));
  }
  return theta;
}

namespace {
Eigen::MatrixXd factor_from(const double*& t, int d) {
  Eigen::MatrixXd L = Eigen::MatrixXd::Zero(d, d);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j <= i; ++j) L(i, j) = i == j ? std::exp(*t++) : *t++;
  return L;
}
}  // namespace

OrderParameters order_parameters_from(const std::vector<double>& theta, const Architecture& arch) {
  OrderParameters op;
  const double* t = theta.data();
  for (int l = 1; l <= arch.depth(); ++l) {
    const Eigen::MatrixXd L = factor_from(t, arch.order(l));
    op.U.push_back(L * L.transpose());
  }
  op.Ua = closed_form_Ua(arch, op.U.back());
  return op;
}

std::vector<double> parameter_gradient(const std::vector<double>& theta, const Architecture& arch,
                                       const std::vector<Eigen::MatrixXd>& gradient_U) {
  // U = L L^T, G = ∂S/∂U symmetric: ∂S/∂L = 2 G L; the diagonal is parameterised by log L_ii.
  std::vector<double> g;
  const double* t = theta.data();
  for (int l = 1; l <= arch.depth(); ++l) {
    const Eigen::MatrixXd L = factor_from(t, arch.order(l));
    const Eigen::MatrixXd D = 2.0 * gradient_U[static_cast<size_t>(l - 1)] * L;
    for (Eigen::Index i = 0; i < L.rows(); ++i)
      for (Eigen::Index j = 0; j <= i; ++j) g.push_back(i == j ? D(i, i) * L(i, i) : D(i, j));
  }
  return g;
}

std::string to_string(PolishMethod m) { return m == PolishMethod::differences ? "differences" : "analytic"; }

PolishMethod parse_polish_method(const std::string& s) {
  if (s == "analytic") return PolishMethod::analytic;
  if (s == "differences") return PolishMethod::differences;
  throw InputError(fmt::format("unknown polish method '{}' (expected analytic or differences)", s));
}

namespace {

// State shared with TAO's C callbacks. θ lives entirely on rank 0 of a parallel Vec; every
// evaluation scatters it to all ranks, evaluates collectively and broadcasts rank 0's f and ∇f so
// that every rank's TAO takes exactly the same decisions.
struct Problem {
  Action* action = nullptr;
  const Comm* comm = nullptr;
  const MinimiserOptions* options = nullptr;
  petsc::Scatter to_all;
  petsc::Vector everywhere;
  std::vector<double> theta;  // θ of the last evaluation
  OrderParameters op;
  ActionValue value;
  int evaluations = 0;
  // Stall detection: S not lowered for this many accepted iterates (its differences are below double
  // precision, e.g. S ~ 1e4 at P = 1e4, while |dS/dU| is still above grad_tol).
  static constexpr int stall_iterations = 5;
  double best_action = std::numeric_limits<double>::infinity();
  int stalled = 0;
  bool have_value = false;
  std::string infeasible;  // why the last point outside the domain was
  std::exception_ptr error;

  std::vector<double> gather(Vec x) {
    PETSC_CALL(VecScatterBegin(to_all.get(), x, everywhere.get(), INSERT_VALUES, SCATTER_FORWARD));
    PETSC_CALL(VecScatterEnd(to_all.get(), x, everywhere.get(), INSERT_VALUES, SCATTER_FORWARD));
    const double* a = nullptr;
    PetscInt n = 0;
    PETSC_CALL(VecGetLocalSize(everywhere.get(), &n));
    PETSC_CALL(VecGetArrayRead(everywhere.get(), &a));
    std::vector<double> t(a, a + n);
    PETSC_CALL(VecRestoreArrayRead(everywhere.get(), &a));
    return t;
  }

  // The action at θ. A point where U_l or the kernel K_T is not numerically positive definite (a
  // trial step too far) is outside the domain: S = +∞ there, so that the line search steps back; the
  // message is kept in case the final point is such a point.
  void evaluate(const std::vector<double>& t) {
    theta = t;
    op = order_parameters_from(t, action->architecture());
    std::string failure;
    try {
      value = action->evaluate(op, true);
    } catch (const NumericalError& e) {
      failure = e.what();
    }
    if (comm->any(!failure.empty())) {
      infeasible = failure.empty() ? "the action is not finite on another rank" : failure;
      value = ActionValue{};
      value.action = value.energy = std::numeric_limits<double>::infinity();
      value.grad_max = std::numeric_limits<double>::infinity();
      value.gradient.clear();
      for (int l = 1; l <= action->architecture().depth(); ++l)
        value.gradient.push_back(Eigen::MatrixXd::Zero(action->architecture().order(l), action->architecture().order(l)));
    }
    // Identical decisions on every rank: rank 0's numbers are the ones.
    std::vector<double> buf{value.action, value.energy, value.entropy, value.grad_max};
    for (const auto& g : value.gradient) buf.insert(buf.end(), g.data(), g.data() + g.size());
    comm->bcast(buf);
    value.action = buf[0];
    value.energy = buf[1];
    value.entropy = buf[2];
    value.grad_max = buf[3];
    std::size_t k = 4;
    for (auto& g : value.gradient)
      for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = buf[k++];
    ++evaluations;
    have_value = true;
  }
};

PetscErrorCode objective_and_gradient(Tao, Vec x, PetscReal* f, Vec g, void* ctx) {
  auto* p = static_cast<Problem*>(ctx);
  try {
    p->evaluate(p->gather(x));
    *f = std::isfinite(p->value.action) ? p->value.action : PETSC_INFINITY;
    const std::vector<double> dtheta = parameter_gradient(p->theta, p->action->architecture(), p->value.gradient);
    double* a = nullptr;
    PetscInt lo = 0, hi = 0;
    PETSC_CALL(VecGetOwnershipRange(g, &lo, &hi));
    PETSC_CALL(VecGetArray(g, &a));
    for (PetscInt i = lo; i < hi; ++i) a[i - lo] = dtheta[static_cast<size_t>(i)];
    PETSC_CALL(VecRestoreArray(g, &a));
  } catch (...) {
    p->error = std::current_exception();
    return PETSC_ERR_USER;
  }
  return 0;
}

PetscErrorCode convergence_test(Tao tao, void* ctx) {
  auto* p = static_cast<Problem*>(ctx);
  try {
    Vec x = nullptr;
    PETSC_CALL(TaoGetSolution(tao, &x));
    const std::vector<double> t = p->gather(x);
    if (!p->have_value || t != p->theta) p->evaluate(t);  // the accepted iterate, not a trial point
    PetscInt it = 0;
    PETSC_CALL(TaoGetIterationNumber(tao, &it));
    if (p->value.action < p->best_action) {
      p->best_action = p->value.action;
      p->stalled = 0;
    } else {
      ++p->stalled;
    }
    if (p->value.grad_max < p->options->grad_tol)
      PETSC_CALL(TaoSetConvergedReason(tao, TAO_CONVERGED_USER));
    else if (p->stalled >= Problem::stall_iterations)
      PETSC_CALL(TaoSetConvergedReason(tao, TAO_DIVERGED_LS_FAILURE));
    else if (it >= p->options->max_iterations)
      PETSC_CALL(TaoSetConvergedReason(tao, TAO_DIVERGED_MAXITS));
    else if (!std::isfinite(p->value.action))
      PETSC_CALL(TaoSetConvergedReason(tao, TAO_DIVERGED_NAN));
    else
      PETSC_CALL(TaoSetConvergedReason(tao, TAO_CONTINUE_ITERATING));
  } catch (...) {
    p->error = std::current_exception();
    return PETSC_ERR_USER;
  }
  return 0;
}

using GradientFn = std::function<std::vector<double>(const std::vector<double>&)>;

// ∇_θ S at θ by a full evaluation (empty if the point is outside the domain).
std::vector<double> theta_gradient(Problem& p, const std::vector<double>& theta) {
  p.evaluate(theta);
  if (!std::isfinite(p.value.action)) return {};
  return parameter_gradient(theta, p.action->architecture(), p.value.gradient);
}

// The Hessian column by column from differences of `gradient` (one-sided from g0, or central);
// step h = step·max(1, |θ_j|). Empty if a gradient left the domain.
Eigen::MatrixXd difference_hessian(const GradientFn& gradient, const std::vector<double>& theta,
                                   const std::vector<double>& g0, double step, bool central) {
  const Eigen::Index n = static_cast<Eigen::Index>(theta.size());
  Eigen::MatrixXd H(n, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    const double h = step * std::max(1.0, std::abs(theta[static_cast<size_t>(j)]));
    std::vector<double> tp = theta, tm = theta;
    tp[static_cast<size_t>(j)] += h;
    tm[static_cast<size_t>(j)] -= h;
    const std::vector<double> gp = gradient(tp), gm = central ? gradient(tm) : g0;
    if (gp.empty() || gm.empty()) return {};
    for (Eigen::Index i = 0; i < n; ++i)
      H(i, j) = (gp[static_cast<size_t>(i)] - gm[static_cast<size_t>(i)]) / (central ? 2 * h : h);
  }
  return 0.5 * (H + H.transpose());
}

// ∇_θ S near θ0 with the energy's U_1-gradient expanded to first order (exact second derivatives at
// θ0): ∂S/∂U(θ) ≈ ∂S/∂U(θ0) + [∂S_ent/∂U(θ) − ∂S_ent/∂U(θ0)]/w + E''·(U_1(θ) − U_1(θ0)). Its
// differences give the θ-Hessian of S at θ0 without evaluating the data term again.
GradientFn second_order_gradient(Problem& p, const std::vector<double>& theta0) {
  const Architecture& arch = p.action->architecture();
  const double norm = 1.0 / arch.max_width();
  const Eigen::MatrixXd E2 = p.action->energy_hessian();  // the kernel is factored at θ0
  const std::vector<Eigen::MatrixXd> g0 = p.value.gradient;
  const OrderParameters op0 = order_parameters_from(theta0, arch);
  std::vector<Eigen::MatrixXd> ent0;
  entropy(arch, op0, &ent0);
  return [&arch, norm, E2, g0, op0, ent0](const std::vector<double>& theta) {
    const OrderParameters op = order_parameters_from(theta, arch);
    std::vector<Eigen::MatrixXd> ent, g = g0;
    entropy(arch, op, &ent);
    for (std::size_t l = 0; l < g.size(); ++l) g[l] += norm * (ent[l] - ent0[l]);
    const Eigen::Index H = op.U1().rows();
    const Eigen::MatrixXd dU = (op.U1() - op0.U1()).transpose();  // column-major data = row-major (a,b)
    const Eigen::VectorXd dg = E2 * Eigen::Map<const Eigen::VectorXd>(dU.data(), H * H);
    const Eigen::MatrixXd D = Eigen::Map<const Eigen::MatrixXd>(dg.data(), H, H).transpose();
    g.front() += 0.5 * (D + D.transpose());
    return parameter_gradient(theta, arch, g);
  };
}

// The Newton direction solving H δ = −g at θ (the last evaluated point) with the saddle-free |λ|
// on an indefinite Hessian. analytic: H from second_order_gradient (one energy Hessian, no further data
// evaluation); differences: one full evaluation per unknown. Empty if the Hessian failed.
Eigen::VectorXd newton_direction(Problem& p, const std::vector<double>& theta, const std::vector<double>& g0,
                                 PolishMethod method) {
  Eigen::MatrixXd H =
      method == PolishMethod::analytic
          ? difference_hessian(second_order_gradient(p, theta), theta, g0, 1e-5, true)
          : difference_hessian([&](const std::vector<double>& t) { return theta_gradient(p, t); }, theta, g0, 1e-7,
                               false);
  std::vector<double> buf(H.data(), H.data() + H.size());  // rank 0's Hessian: identical decisions
  buf.push_back(static_cast<double>(H.size()));
  p.comm->bcast(buf);
  if (buf.back() == 0) return {};
  H = Eigen::Map<const Eigen::MatrixXd>(buf.data(), H.rows(), H.cols());
  const Eigen::Map<const Eigen::VectorXd> g(g0.data(), static_cast<Eigen::Index>(g0.size()));
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(H);
  const double floor = 1e-12 * std::max(1.0, es.eigenvalues().cwiseAbs().maxCoeff());
  const Eigen::VectorXd lam = es.eigenvalues().cwiseAbs().cwiseMax(floor);
  return -es.eigenvectors() * (es.eigenvectors().transpose() * g).cwiseQuotient(lam);
}

// One backtracking line search along d from θ (the last evaluated point, value v0, slope ∇_θS·d < 0):
// t = 1, ½, ¼, … until S falls (strictly) by Armijo's rule, or — where S's differences are at round-off
// (S ~ 1e5 at P = 1e6, N = 10) — until S does not rise beyond round-off and max|∂S/∂U| falls. A trial point
// outside the domain (S = +∞) halves the step. On success θ is the accepted point, the last evaluated.
bool backtrack(Problem& p, std::vector<double>& theta, const Eigen::VectorXd& d, const ActionValue& v0,
               double slope) {
  const double round_off = 64 * std::numeric_limits<double>::epsilon() * std::max(1.0, std::abs(v0.action));
  for (double t = 1.0; t > 1e-12; t *= 0.5) {
    std::vector<double> trial = theta;
    for (std::size_t i = 0; i < trial.size(); ++i) trial[i] += t * d(static_cast<Eigen::Index>(i));
    p.evaluate(trial);
    const double S = p.value.action;
    if (!std::isfinite(S)) continue;
    if ((S < v0.action && S <= v0.action + 1e-4 * t * slope) ||
        (S <= v0.action + round_off && p.value.grad_max < v0.grad_max)) {
      theta = trial;
      return true;
    }
  }
  return false;
}

// Where the descent stopped, and why.
struct Descent {
  std::vector<double> theta;
  int iterations = 0;
  bool stalled = false;         // no step was accepted: S at round-off, or the direction failed
  bool flat = false;            // the Newton decrement is below S's round-off: the polish takes over
  bool iteration_limit = false;
  std::string stop;             // the stop's name when neither the rule nor the limit stopped it
};

// The Newton descent (--minimiser newton): damped saddle-free Newton steps in θ from `theta` until
// max|∂S/∂U| < grad_tol. The direction is the polish's (newton_direction: exact Hessian, |λ|), capped
// at max|δθ| ≤ max_step (a factor e^½ on a diagonal of L_l; 0.5 needed the fewest evaluations of
// 0.25, 0.5, 1, 2 and ∞ on the Markov and the synthetic tests) and shortened by backtrack(). Its cost does not
// grow with the Hessian's condition number, which at large α = P/N makes quasi-Newton methods crawl
// (P = 1e4, N = 1: 458 LMVM evaluations).
constexpr double max_step = 0.5;

Descent newton_descent(Problem& p, std::vector<double> theta, const MinimiserOptions& options) {
  const Architecture& arch = p.action->architecture();
  p.evaluate(theta);
  ATTN_REQUIRE(std::isfinite(p.value.action), NumericalError, "the action is not finite at the starting point: {}",
               p.infeasible.empty() ? "not a number" : p.infeasible);
  Descent out;
  while (p.value.grad_max >= options.grad_tol) {
    if (out.iterations >= options.max_iterations) {
      out.iteration_limit = true;
      break;
    }
    const ActionValue v0 = p.value;
    const std::vector<double> g = parameter_gradient(theta, arch, v0.gradient);
    const Eigen::Map<const Eigen::VectorXd> gv(g.data(), static_cast<Eigen::Index>(g.size()));
    Eigen::VectorXd d = newton_direction(p, theta, g, options.polish);
    if (d.size() == 0) d = -gv;  // the Hessian failed: steepest descent this once
    const double largest = d.cwiseAbs().maxCoeff();
    if (largest > max_step) d *= max_step / largest;
    // Newton decrement −∇S·δ ≈ 2 (S − S_min) below ~100× S's round-off: S cannot rank the points
    // any more (the primal form at P = 600, α = 600: S's noise ~3e-10 ≈ 350 ulps); the polish,
    // which accepts on |∇S|, finishes.
    const double slope = gv.dot(d);
    const double noise = 1e4 * std::numeric_limits<double>::epsilon() * std::max(1.0, std::abs(v0.action));
    if (largest <= max_step && -slope < noise) {
      out.flat = true;
      out.stop = "the Newton decrement reached S's round-off";
      break;
    }
    ++out.iterations;
    if (!backtrack(p, theta, d, v0, slope)) {
      p.evaluate(theta);  // back to the last accepted point
      out.stalled = true;
      out.stop = "no step lowered S";
      break;
    }
  }
  out.theta = theta;
  return out;
}

// Newton polishing on ∇S = 0 in θ (see minimiser.hpp). Deterministic on every rank: all numbers
// come from Problem::evaluate, which broadcasts rank 0's values.
int polish(Problem& p, std::vector<double> theta, const MinimiserOptions& options, int max_steps) {
  const Architecture& arch = p.action->architecture();
  const std::size_t n = theta.size();
  if (!p.have_value || p.theta != theta) p.evaluate(theta);  // the descent's last point is usually it
  int steps = 0;
  while (steps < max_steps && p.value.grad_max >= options.polish_tol) {
    const double gmax0 = p.value.grad_max;
    const std::vector<double> g0 = parameter_gradient(theta, arch, p.value.gradient);
    const Eigen::VectorXd delta = newton_direction(p, theta, g0, options.polish);
    bool improved = false;
    // t = 1, ½, ¼: this near the minimum a Newton step needs no shorter one; where none of them lowers
    // |∇S|, the gradient's round-off is reached (P = 1e4, N = 10: shorter steps only found noise).
    for (double t = 1.0; delta.size() > 0 && t > 1.0 / 8; t *= 0.5) {
      std::vector<double> trial = theta;
      for (std::size_t i = 0; i < n; ++i) trial[i] += t * delta(static_cast<Eigen::Index>(i));
      p.evaluate(trial);
      if (std::isfinite(p.value.action) && p.value.grad_max < gmax0) {
        theta = trial;
        improved = true;
        break;
      }
    }
    ++steps;
    if (!improved) {  // round-off reached: keep the best point
      p.evaluate(theta);
      break;
    }
    // A Newton step near the minimum cuts |∇S| by orders of magnitude (quadratic convergence); one
    // that cuts it by less than 10× has met the gradient's own round-off (P = 1e4, N = 10: ~1e-10,
    // where steps cut it by 2–5× at random): keep it, stop there. The descent met grad_tol already.
    if (p.value.grad_max > 0.1 * gmax0) break;
  }
  return steps;
}

// The earlier minimiser (--minimiser lmvm): TAO's LMVM (limited-memory quasi-Newton) with a
// backtracking Armijo line search from θ0 until the stopping rule holds or S stalls.
Descent lmvm_descent(Problem& p, const std::vector<double>& theta0, const MinimiserOptions& options) {
  const Comm& comm = *p.comm;
  const PetscInt n = static_cast<PetscInt>(theta0.size());
  petsc::Vector x;
  PETSC_CALL(VecCreateMPI(comm.get(), comm.is_root() ? n : 0, n, x.out()));
  if (comm.is_root()) {
    double* a = nullptr;
    PETSC_CALL(VecGetArray(x.get(), &a));
    for (PetscInt i = 0; i < n; ++i) a[i] = theta0[static_cast<size_t>(i)];
    PETSC_CALL(VecRestoreArray(x.get(), &a));
  }
  PETSC_CALL(VecScatterCreateToAll(x.get(), p.to_all.out(), p.everywhere.out()));

  petsc::Solver tao;
  PETSC_CALL(TaoCreate(comm.get(), tao.out()));
  PETSC_CALL(TaoSetType(tao.get(), TAOLMVM));
  PETSC_CALL(TaoSetSolution(tao.get(), x.get()));
  PETSC_CALL(TaoSetObjectiveAndGradient(tao.get(), nullptr, objective_and_gradient, &p));
  PETSC_CALL(TaoSetConvergenceTest(tao.get(), convergence_test, &p));
  PETSC_CALL(TaoSetTolerances(tao.get(), 0.0, 0.0, 0.0));
  PETSC_CALL(TaoSetMaximumIterations(tao.get(), options.max_iterations + 1));
  PETSC_CALL(TaoSetMaximumFunctionEvaluations(tao.get(), 100 * (options.max_iterations + 10)));
  // Backtracking (Armijo) line search: it halves the step on an infinite S (a trial point outside the
  // domain, Problem::evaluate), where Moré–Thuente gives up with step 0. -theory_tao_ls_type overrides.
  TaoLineSearch ls = nullptr;
  PETSC_CALL(TaoGetLineSearch(tao.get(), &ls));
  PETSC_CALL(TaoLineSearchSetType(ls, TAOLINESEARCHARMIJO));
  PETSC_CALL(TaoSetOptionsPrefix(tao.get(), "theory_"));
  PETSC_CALL(TaoSetFromOptions(tao.get()));
  const PetscErrorCode ierr = TaoSolve(tao.get());
  if (p.error) std::rethrow_exception(p.error);
  PETSC_CALL(ierr);

  Descent out;
  TaoConvergedReason reason;
  PetscInt it = 0;
  PETSC_CALL(TaoGetConvergedReason(tao.get(), &reason));
  PETSC_CALL(TaoGetIterationNumber(tao.get(), &it));
  out.iterations = static_cast<int>(it);
  out.stalled = p.stalled >= Problem::stall_iterations;
  out.iteration_limit = reason == TAO_DIVERGED_MAXITS;
  out.stop = fmt::format("TAO stopped ({})", TaoConvergedReasons[reason]);
  out.theta = p.gather(x.get());
  if (!p.have_value || out.theta != p.theta) p.evaluate(out.theta);  // the final iterate, with its gradient
  return out;
}

}  // namespace

std::string to_string(MinimiserMethod m) {
  switch (m) {
    case MinimiserMethod::newton: return "newton";
    case MinimiserMethod::lmvm: return "lmvm";
    default: return "auto";
  }
}

MinimiserMethod parse_minimiser_method(const std::string& s) {
  if (s == "auto") return MinimiserMethod::automatic;
  if (s == "newton") return MinimiserMethod::newton;
  if (s == "lmvm") return MinimiserMethod::lmvm;
  throw InputError(fmt::format("unknown minimiser '{}' (expected auto, newton or lmvm)", s));
}

MinimiserMethod resolve_minimiser(MinimiserMethod requested, const RenormalizedKernel& k) {
  if (requested != MinimiserMethod::automatic) return requested;
  return k.energy_hessian_flops() <= newton_cost_ratio * k.evaluation_flops() ? MinimiserMethod::newton
                                                                                : MinimiserMethod::lmvm;
}

MinimiserResult minimise_action(Action& action, const OrderParameters& start, const MinimiserOptions& options,
                                const Comm& comm) {
  ATTN_REQUIRE(options.grad_tol > 0, InputError, "the gradient tolerance must be positive (got {})", options.grad_tol);
  ATTN_REQUIRE(options.max_iterations >= 0, InputError, "the iteration limit must be non-negative");
  Problem p;
  p.action = &action;
  p.comm = &comm;
  p.options = &options;
  const std::vector<double> theta0 = cholesky_parameters(start);
  const MinimiserMethod method = resolve_minimiser(options.method, action.kernel());
  Descent d = method == MinimiserMethod::newton ? newton_descent(p, theta0, options) : lmvm_descent(p, theta0, options);
  if (method == MinimiserMethod::lmvm && d.stalled && p.value.grad_max >= options.grad_tol &&
      std::isfinite(p.value.action)) {  // LMVM stalled short of the rule: Newton goes on from there
    MinimiserOptions rest = options;
    rest.max_iterations = std::max(0, options.max_iterations - d.iterations);
    const int before = d.iterations;
    d = newton_descent(p, d.theta, rest);
    d.iterations += before;
  }
  ATTN_REQUIRE(std::isfinite(p.value.action), NumericalError, "the action is not finite at the minimiser's point: {}",
               p.infeasible.empty() ? "not a number" : p.infeasible);
  // Newton polishing after the stopping rule is met, when the Newton decrement reached S's round-off,
  // or when the descent stalled close to the rule (within 1e3·grad_tol): Newton steps are accepted on
  // |∇S|, not on S, so they go on where S is flat.
  MinimiserResult result;
  const bool near = p.value.grad_max < options.grad_tol || d.flat ||
                    (d.stalled && p.value.grad_max < 1e3 * options.grad_tol);
  if (near && options.polish_tol > 0 && p.value.grad_max > options.polish_tol &&
      (options.polish == PolishMethod::analytic ||
       static_cast<int>(d.theta.size()) <= options.polish_max_parameters))
    result.newton_steps = polish(p, d.theta, options, 8);
  result.op = p.op;
  result.value = p.value;
  result.iterations = d.iterations;
  result.evaluations = p.evaluations;
  result.converged = result.value.grad_max < options.grad_tol;
  const char* kind = method == MinimiserMethod::newton ? "Newton" : "quasi-Newton";
  if (result.converged)
    result.reason = fmt::format("max|dS/dU| = {:.3g} < {:.3g} ({} {} iterations, {} Newton polishing steps)",
                                result.value.grad_max, options.grad_tol, result.iterations, kind, result.newton_steps);
  else if (d.iteration_limit)
    result.reason = fmt::format("iteration limit {} reached with max|dS/dU| = {:.3g}", options.max_iterations,
                                result.value.grad_max);
  else
    result.reason = fmt::format("{} with max|dS/dU| = {:.3g} >= {:.3g}", d.stop, result.value.grad_max,
                                options.grad_tol);
  return result;
}

}  // namespace attnpaths
