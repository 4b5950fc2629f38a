// docs/model.md §3.3–3.5: the action's gradient, the minimiser, and the GP limit.
#include <gtest/gtest.h>

#include "attnpaths/core/error.hpp"
#include "attnpaths/theory/minimiser.hpp"
#include "synthetic.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {
Architecture two_layer(double width) {
  Architecture a;
  a.heads = {2, 2};
  a.widths = {width, width, width};
  a.variances = {1, 1, 1, 1};
  return a;
}

double action_at(Action& action, const std::vector<double>& theta) {
  OrderParameters op = order_parameters_from(theta, action.architecture());
  return action.evaluate(op, false).action;
}
}  // namespace

TEST(Action, FullGradientMatchesFiniteDifferences) {
  // Energy + entropy, unequal widths and variances, L = 1, 2, 3, through the Cholesky parameters.
  const Comm& comm = test::world();
  struct Case {
    std::vector<int> heads;
    std::vector<double> widths, variances;
  };
  for (const Case& c : std::vector<Case>{{{3}, {20, 35}, {1.2, 0.8, 1.1}},
                                         {{2, 2}, {15, 30, 25}, {0.9, 1.2, 0.8, 1.1}},
                                         {{2, 1, 2}, {12, 20, 18, 30}, {1.0, 1.1, 0.9, 1.2, 0.8}}}) {
    Architecture arch;
    arch.heads = c.heads;
    arch.widths = c.widths;
    arch.variances = c.variances;
    arch.validate();
    const PathInputs train = test::synthetic_path_inputs(24, arch.paths(), 5, comm, 17);
    for (KernelForm form : {KernelForm::primal, KernelForm::dual, KernelForm::path_pairs}) {
      auto kernel = make_renormalized_kernel(form, train, arch.sigma_sq(0), comm);
      Action action(arch, *kernel, 0.05);
      OrderParameters op = test::random_order_parameters(arch, 23);
      const ActionValue v = action.evaluate(op, true);
      const std::vector<double> theta = cholesky_parameters(op);
      const std::vector<double> g = parameter_gradient(theta, arch, v.gradient);
      for (size_t i = 0; i < theta.size(); ++i) {
        const double h = 1e-5;
        std::vector<double> tp = theta, tm = theta;
        tp[i] += h;
        tm[i] -= h;
        const double fd = (action_at(action, tp) - action_at(action, tm)) / (2 * h);
        EXPECT_NEAR(g[i], fd, 1e-6 * std::max(1.0, std::abs(fd)))
            << "L=" << arch.depth() << " form " << to_string(form) << " θ[" << i << "]";
      }
    }
  }
}

TEST(Action, EnergyHessianMatchesGradientDifferences) {
  // ∂²E/∂U_1∂U_1 (closed form from the path Gram) applied to a symmetric direction V against the
  // central difference of the analytic energy gradient along V; every form, every rank count. At
  // P = 24 > r = 20 the path-pair form goes through the path Gram; at P = 12 < r = 80 it works in
  // example space (R^{-1} C_ππ' R^{-T}), which must then be the cheaper route. On several ranks the
  // dual form sums the closed form over its ranks' feature pairs (DualKernel::energy_hessian).
  const Comm& comm = test::world();
  const int H = 4;
  const Eigen::MatrixXd U = test::random_spd(H, 37);
  Eigen::MatrixXd V = test::random_spd(H, 41) - Eigen::MatrixXd::Identity(H, H);
  V = 0.5 * (V + V.transpose());
  for (const auto& [P, N0] : {std::pair{24, 5}, std::pair{12, 20}})
  for (KernelForm form : {KernelForm::primal, KernelForm::dual, KernelForm::path_pairs}) {
    const PathInputs train = test::synthetic_path_inputs(P, H, N0, comm, 31);
    auto kernel = make_renormalized_kernel(form, train, 1.3, comm);
    if (form == KernelForm::path_pairs && P < H * N0) {
      EXPECT_LT(kernel->energy_hessian_flops(), make_renormalized_kernel(KernelForm::primal, train, 1.3, comm)
                                                    ->energy_hessian_flops());
    }
    kernel->factor(U, 0.05);
    std::vector<double> G, c;
    kernel->path_gram(G, c);
    const Eigen::MatrixXd Vt = V.transpose();  // column-major data of V^T = row-major (a,b) of V
    const Eigen::Map<const Eigen::VectorXd> v(Vt.data(), H * H);
    // The closed form from the path Gram, and the kernel's own (the path-pair form's in example space).
    const Eigen::VectorXd hv = path_gram_hessian(G, c, H, N0) * v, kv = kernel->energy_hessian() * v;
    EXPECT_GT(kernel->energy_hessian_flops(), 0.0);
    const double h = 1e-5;
    kernel->factor(U + h * V, 0.05);
    const Eigen::MatrixXd gp = kernel->energy_gradient();
    kernel->factor(U - h * V, 0.05);
    const Eigen::MatrixXd fd = (gp - kernel->energy_gradient()) / (2 * h);
    for (int a = 0; a < H; ++a)
      for (int b = 0; b < H; ++b) {
        EXPECT_NEAR(hv(a * H + b), fd(a, b), 1e-6 * std::max(1.0, fd.cwiseAbs().maxCoeff()))
            << to_string(form) << " (" << a << "," << b << ")";
        // The same symmetric second derivative to round-off (the path-pair form's is symmetrised in (a,b)).
        EXPECT_NEAR(kv(a * H + b), 0.5 * (hv(a * H + b) + hv(b * H + a)), 1e-11 * hv.cwiseAbs().maxCoeff())
            << to_string(form) << " kernel's (" << a << "," << b << ")";
      }
  }
}

TEST(Minimiser, ConvergesAndIsRankAndFormInvariant) {
  const Comm& world = test::world();
  const Comm self = Comm::view(MPI_COMM_SELF);
  const Architecture arch = two_layer(10);
  const PathInputs dist = test::synthetic_path_inputs(40, 4, 6, world, 7);
  const PathInputs whole = test::synthetic_path_inputs(40, 4, 6, self, 7);
  MinimiserOptions opt;  // the default stopping rule 1e-5, polished by Newton to 1e-12 (both Hessians)
  opt.polish_tol = 1e-12;
  std::vector<Eigen::MatrixXd> results;
  for (MinimiserMethod method : {MinimiserMethod::newton, MinimiserMethod::lmvm}) {
    opt.method = method;
    for (PolishMethod polish : {PolishMethod::analytic, PolishMethod::differences}) {
      opt.polish = polish;
      for (KernelForm form : {KernelForm::primal, KernelForm::dual, KernelForm::path_pairs}) {
        for (const Comm* c : {&world, &self}) {
          auto kernel = make_renormalized_kernel(form, c == &world ? dist : whole, 1.0, *c);
          Action action(arch, *kernel, 0.01);
          const MinimiserResult r = minimise_action(action, gp_point(arch), opt, *c);
          EXPECT_TRUE(r.converged) << r.reason;
          EXPECT_LT(r.value.grad_max, 1e-10) << to_string(method) << ", " << to_string(polish) << ": " << r.reason;
          results.push_back(r.op.U1());
        }
      }
    }
  }
  for (size_t i = 1; i < results.size(); ++i)
    EXPECT_LT((results[i] - results[0]).cwiseAbs().maxCoeff(), 1e-10) << "result " << i;
  // A finite width moves U_1 away from the GP identity.
  EXPECT_GT((results[0] - Eigen::MatrixXd::Identity(4, 4)).cwiseAbs().maxCoeff(), 1e-2);
}

TEST(Minimiser, WarmStartReachesTheSameMinimum) {
  // theory --warm-start: starting from the solution at another temperature changes the path only.
  const Comm& comm = test::world();
  const Architecture arch = two_layer(10);
  const PathInputs train = test::synthetic_path_inputs(40, 4, 6, comm, 7);
  auto kernel = make_renormalized_kernel(KernelForm::automatic, train, 1.0, comm);
  MinimiserOptions opt;
  opt.polish_tol = 1e-12;
  Action hot(arch, *kernel, 0.05), cold(arch, *kernel, 0.01);
  const MinimiserResult previous = minimise_action(hot, gp_point(arch), opt, comm);
  const MinimiserResult fresh = minimise_action(cold, gp_point(arch), opt, comm);
  const MinimiserResult warm = minimise_action(cold, previous.op, opt, comm);
  ASSERT_TRUE(fresh.converged && warm.converged) << fresh.reason << " / " << warm.reason;
  EXPECT_GT((previous.op.U1() - fresh.op.U1()).cwiseAbs().maxCoeff(), 1e-3);  // a different start
  EXPECT_LT((warm.op.U1() - fresh.op.U1()).cwiseAbs().maxCoeff(), 1e-10 * fresh.op.U1().cwiseAbs().maxCoeff());
}

TEST(Minimiser, LargeWidthTendsToTheGpLimit) {
  const Comm& comm = test::world();
  const PathInputs train = test::synthetic_path_inputs(30, 4, 6, comm, 9);
  double previous = 1e300;
  for (double width : {10.0, 100.0, 1000.0, 10000.0}) {
    const Architecture arch = two_layer(width);
    auto kernel = make_renormalized_kernel(KernelForm::automatic, train, 1.0, comm);
    Action action(arch, *kernel, 0.01);
    const MinimiserResult r = minimise_action(action, gp_point(arch), MinimiserOptions{}, comm);
    ASSERT_TRUE(r.converged) << r.reason;
    const double distance = (r.op.U1() - Eigen::MatrixXd::Identity(4, 4)).norm();
    EXPECT_LT(distance, previous) << "width " << width;
    previous = distance;
  }
  EXPECT_LT(previous, 0.05);
}

TEST(Minimiser, ReportsNonConvergence) {
  // The iteration limit of either descent: not converged, the reason says so (no exception).
  const Comm& comm = test::world();
  const Architecture arch = two_layer(10);
  const PathInputs train = test::synthetic_path_inputs(20, 4, 6, comm, 13);
  auto kernel = make_renormalized_kernel(KernelForm::automatic, train, 1.0, comm);
  Action action(arch, *kernel, 0.01);
  for (MinimiserMethod method : {MinimiserMethod::lmvm, MinimiserMethod::newton}) {
    MinimiserOptions opt;
    opt.method = method;
    opt.max_iterations = 2;
    opt.grad_tol = 1e-12;
    const MinimiserResult r = minimise_action(action, gp_point(arch), opt, comm);
    EXPECT_FALSE(r.converged) << to_string(method);
    EXPECT_LE(r.iterations, 3) << to_string(method);
    EXPECT_NE(r.reason.find("iteration limit 2"), std::string::npos) << r.reason;
  }
}

TEST(Minimiser, NewtonConvergesAtLargeAlphaInFewEvaluations) {
  // α = P/N = 600 (width 1): the Hessian in θ is ill-conditioned and LMVM needs ~550 evaluations (on
  // 2 and 4 ranks it stalls at max|dS/dU| ~ 1e-2 and the Newton descent finishes); the damped Newton
  // descent converges in ~30, to the same minimum, in the primal and the dual form, on every rank count.
  const Comm& comm = test::world();
  const Architecture arch = two_layer(1);
  const PathInputs train = test::synthetic_path_inputs(600, 4, 3, comm, 5);
  MinimiserOptions opt;
  opt.polish_tol = 1e-11;
  std::vector<MinimiserResult> runs;
  for (MinimiserMethod method : {MinimiserMethod::newton, MinimiserMethod::lmvm})
    for (KernelForm form : {KernelForm::primal, KernelForm::dual}) {
      opt.method = method;
      auto kernel = make_renormalized_kernel(form, train, 1.0, comm);
      Action action(arch, *kernel, 0.01);
      runs.push_back(minimise_action(action, gp_point(arch), opt, comm));
      ASSERT_TRUE(runs.back().converged) << to_string(method) << ", " << to_string(form) << ": " << runs.back().reason;
    }
  const double scale = runs[0].op.U1().cwiseAbs().maxCoeff();
  for (std::size_t i = 1; i < runs.size(); ++i)
    EXPECT_LT((runs[i].op.U1() - runs[0].op.U1()).cwiseAbs().maxCoeff(), 1e-9 * scale) << "run " << i;
  EXPECT_GT((runs[0].op.U1() - Eigen::MatrixXd::Identity(4, 4)).cwiseAbs().maxCoeff(), 0.5);  // far from the GP
  for (int i : {0, 1}) EXPECT_LE(runs[i].evaluations, 40) << runs[i].reason;
  std::cout << "evaluations: newton " << runs[0].evaluations << ", " << runs[1].evaluations << "; lmvm "
            << runs[2].evaluations << ", " << runs[3].evaluations << " (max|U1| = " << scale << ")\n";
}

TEST(Minimiser, AutomaticPicksNewtonWhereTheHessianIsCheap) {
  // One Hessian (path Gram + energy Hessian) against one evaluation: the dual form ~1.5–2 evaluations
  // (newton); the primal form at P << r ~11 (lmvm), at P ~ r ~1 (newton).
  const Comm& comm = test::world();
  const PathInputs small = test::synthetic_path_inputs(20, 4, 60, comm, 3);  // P = 20, r = 240
  const PathInputs square = test::synthetic_path_inputs(200, 4, 50, comm, 3);  // P = 200, r = 200
  auto primal_small = make_renormalized_kernel(KernelForm::primal, small, 1.0, comm);
  auto primal_square = make_renormalized_kernel(KernelForm::primal, square, 1.0, comm);
  auto dual = make_renormalized_kernel(KernelForm::dual, small, 1.0, comm);
  auto pairs_small = make_renormalized_kernel(KernelForm::path_pairs, small, 1.0, comm);
  EXPECT_EQ(resolve_minimiser(MinimiserMethod::automatic, *pairs_small), MinimiserMethod::lmvm);  // ~50 evaluations
  EXPECT_EQ(resolve_minimiser(MinimiserMethod::automatic, *primal_small), MinimiserMethod::lmvm);
  EXPECT_EQ(resolve_minimiser(MinimiserMethod::automatic, *primal_square), MinimiserMethod::newton);
  EXPECT_EQ(resolve_minimiser(MinimiserMethod::automatic, *dual), MinimiserMethod::newton);
  for (auto* k : {primal_small.get(), dual.get()})
    for (MinimiserMethod m : {MinimiserMethod::newton, MinimiserMethod::lmvm}) EXPECT_EQ(resolve_minimiser(m, *k), m);
  EXPECT_EQ(parse_minimiser_method("auto"), MinimiserMethod::automatic);
  EXPECT_THROW(parse_minimiser_method("bfgs"), InputError);
}
