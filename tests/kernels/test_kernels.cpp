// docs/model.md §3.1, §3.3–3.7, §7: the renormalised kernel in both forms against dense references.
#include <gtest/gtest.h>
#include <omp.h>

#include <Eigen/Dense>
#include <cmath>

#include "attnpaths/core/eigen.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"
#include "synthetic.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

// U ⊗ I_{N0} with the path index slowest (column π·N0 + i).
Eigen::MatrixXd kron_identity(const Eigen::MatrixXd& U, int N0) {
  const Eigen::Index H = U.rows();
  Eigen::MatrixXd M = Eigen::MatrixXd::Zero(H * N0, H * N0);
  for (Eigen::Index p = 0; p < H; ++p)
    for (Eigen::Index q = 0; q < H; ++q)
      for (int i = 0; i < N0; ++i) M(p * N0 + i, q * N0 + i) = U(p, q);
  return M;
}

struct DenseReference {
  Eigen::MatrixXd K, Kstar;
  Eigen::VectorXd Kss, mean, var;
  double log_det = 0, fit = 0;
};

// Everything of docs/model.md §3.3/§3.6 by brute force from the gathered x̃.
DenseReference dense_reference(const Eigen::MatrixXd& Xtr, const Eigen::VectorXd& y, const Eigen::MatrixXd& Xte,
                               const Eigen::MatrixXd& U, int N0, double sigma0_sq, double temp) {
  const double s2 = sigma0_sq / (static_cast<double>(N0) * static_cast<double>(U.rows()));
  const Eigen::MatrixXd M = kron_identity(U, N0);
  DenseReference d;
  d.K = s2 * Xtr * M * Xtr.transpose();
  d.Kstar = s2 * Xtr * M * Xte.transpose();
  d.Kss = (s2 * Xte * M * Xte.transpose()).diagonal();
  const Eigen::MatrixXd KT = d.K + temp * Eigen::MatrixXd::Identity(d.K.rows(), d.K.cols());
  Eigen::LLT<Eigen::MatrixXd> llt(KT);
  d.log_det = 2.0 * llt.matrixLLT().diagonal().array().log().sum();
  const Eigen::VectorXd alpha = llt.solve(y);
  d.fit = y.dot(alpha);
  d.mean = d.Kstar.transpose() * alpha;
  d.var = d.Kss - (d.Kstar.array() * llt.solve(d.Kstar).array()).colwise().sum().transpose().matrix();
  return d;
}

Eigen::VectorXd gather(const std::vector<double>& local, const Comm& comm) {
  const auto all = comm.allgather_blocks(local);
  return Eigen::Map<const Eigen::VectorXd>(all.data(), static_cast<Eigen::Index>(all.size()));
}

double energy_of(RenormalizedKernel& k, const Eigen::MatrixXd& U, double temp) {
  k.factor(U, temp);
  return k.log_det() + k.data_fit();
}

const KernelForm all_forms[] = {KernelForm::primal, KernelForm::dual, KernelForm::path_pairs};

struct Shape {
  std::int64_t P, Q;
  int H, N0;
};

}  // namespace

class KernelForms : public ::testing::TestWithParam<Shape> {};

TEST_P(KernelForms, BothFormsMatchTheDenseReference) {
  const Comm& comm = test::world();
  const Shape s = GetParam();
  const double sigma0_sq = 1.3, temp = 0.05;
  const PathInputs train = test::synthetic_path_inputs(s.P, s.H, s.N0, comm, 11);
  const PathInputs testset = test::synthetic_path_inputs(s.Q, s.H, s.N0, comm, 12, "test");
  const Eigen::MatrixXd U = test::random_spd(s.H, 5);
  const DenseReference ref =
      dense_reference(test::gather_rows(train, comm), test::gather_targets(train, comm),
                      test::gather_rows(testset, comm), U, s.N0, sigma0_sq, temp);
  for (KernelForm form : all_forms) {
    auto k = make_renormalized_kernel(form, train, sigma0_sq, comm);
    ASSERT_EQ(k->form(), form);
    k->prepare_predictions({&testset});  // the path-pair form: through its train–test pair kernels
    k->factor(U, temp);
    EXPECT_NEAR(k->log_det(), ref.log_det, 1e-10 * std::abs(ref.log_det)) << to_string(form);
    EXPECT_NEAR(k->data_fit(), ref.fit, 1e-10 * std::abs(ref.fit)) << to_string(form);
    const PredictorMoments pm = k->predict(testset);
    const Eigen::VectorXd mean = gather(pm.mean, comm), var = gather(pm.var, comm);
    ASSERT_EQ(mean.size(), s.Q);
    EXPECT_LT((mean - ref.mean).cwiseAbs().maxCoeff(), 1e-10 * std::max(1.0, ref.mean.cwiseAbs().maxCoeff()))
        << to_string(form);
    EXPECT_LT((var - ref.var).cwiseAbs().maxCoeff(), 1e-10 * std::max(1.0, ref.Kss.cwiseAbs().maxCoeff()))
        << to_string(form);
    EXPECT_GT(var.minCoeff(), 0.0);
  }
}

TEST_P(KernelForms, SolveMatchesTheDenseReference) {
  // K_T^{-1} v on the local rows, v not the labels (the sampler's Matheron update solves with noise).
  const Comm& comm = test::world();
  const Shape s = GetParam();
  const double sigma0_sq = 0.8, temp = 0.03;
  const PathInputs train = test::synthetic_path_inputs(s.P, s.H, s.N0, comm, 13);
  const Eigen::MatrixXd U = test::random_spd(s.H, 9);
  const Eigen::MatrixXd X = test::gather_rows(train, comm);
  const DenseReference ref = dense_reference(X, test::gather_targets(train, comm), X, U, s.N0, sigma0_sq, temp);
  Eigen::VectorXd v(s.P);
  for (Eigen::Index i = 0; i < s.P; ++i) v(i) = std::sin(1.0 + 0.7 * double(i));
  const Eigen::VectorXd expected = (ref.K + temp * Eigen::MatrixXd::Identity(s.P, s.P)).llt().solve(v);
  std::vector<double> local(v.data() + train.local.begin, v.data() + train.local.end);
  for (KernelForm form : all_forms) {
    auto k = make_renormalized_kernel(form, train, sigma0_sq, comm);
    k->factor(U, temp);
    const Eigen::VectorXd x = gather(k->solve(local), comm);
    ASSERT_EQ(x.size(), s.P) << to_string(form);
    EXPECT_LT((x - expected).cwiseAbs().maxCoeff(), 1e-9 * expected.cwiseAbs().maxCoeff()) << to_string(form);
  }
}

TEST_P(KernelForms, EnergyGradientMatchesFiniteDifferences) {
  const Comm& comm = test::world();
  const Shape s = GetParam();
  const PathInputs train = test::synthetic_path_inputs(s.P, s.H, s.N0, comm, 21);
  const Eigen::MatrixXd U = test::random_spd(s.H, 6);
  const double temp = 0.1;
  for (KernelForm form : all_forms) {
    auto k = make_renormalized_kernel(form, train, 1.0, comm);
    k->factor(U, temp);
    const Eigen::MatrixXd g = k->energy_gradient();
    EXPECT_LT((g - g.transpose()).cwiseAbs().maxCoeff(), 1e-12 * g.cwiseAbs().maxCoeff());
    for (int i = 0; i < s.H; ++i)
      for (int j = 0; j <= i; ++j) {
        const double h = 1e-5;
        Eigen::MatrixXd up = U, um = U;
        up(i, j) += h;
        um(i, j) -= h;
        if (i != j) {
          up(j, i) += h;
          um(j, i) -= h;
        }
        const double fd = (energy_of(*k, up, temp) - energy_of(*k, um, temp)) / (2 * h);
        const double analytic = (i == j ? 1.0 : 2.0) * g(i, j);
        EXPECT_NEAR(analytic, fd, 1e-6 * std::max(1.0, std::abs(fd))) << to_string(form) << " (" << i << "," << j << ")";
      }
  }
}

TEST_P(KernelForms, AlignmentMatchesDenseEigenvectors) {
  const Comm& comm = test::world();
  const Shape s = GetParam();
  const PathInputs train = test::synthetic_path_inputs(s.P, s.H, s.N0, comm, 31);
  const Eigen::MatrixXd U = test::random_spd(s.H, 7);
  const Eigen::VectorXd y = test::gather_targets(train, comm);
  const DenseReference ref = dense_reference(test::gather_rows(train, comm), y, test::gather_rows(train, comm), U,
                                             s.N0, 1.0, 1.0);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(ref.K);
  // Beyond the kernel's rank min(P, r) the eigenvectors are arbitrary: ask for fewer.
  const int k = static_cast<int>(std::min<std::int64_t>({8, s.P, static_cast<std::int64_t>(s.H) * s.N0}));
  for (KernelForm form : all_forms) {
    auto kern = make_renormalized_kernel(form, train, 1.0, comm);
    const std::vector<double> a = kern->alignment(U, k);
    ASSERT_EQ(static_cast<int>(a.size()), k) << to_string(form);
    for (int j = 0; j < k; ++j) {
      const Eigen::VectorXd v = es.eigenvectors().col(es.eigenvectors().cols() - 1 - j);
      EXPECT_NEAR(a[static_cast<size_t>(j)], std::abs(v.dot(y)) / std::sqrt(static_cast<double>(s.P)), 1e-8)
          << to_string(form) << " eigenvector " << j;
    }
  }
}

TEST_P(KernelForms, KernelBlockMatchesDense) {
  const Comm& comm = test::world();
  const Shape s = GetParam();
  const PathInputs train = test::synthetic_path_inputs(s.P, s.H, s.N0, comm, 41);
  const Eigen::MatrixXd U = test::random_spd(s.H, 8);
  const DenseReference ref = dense_reference(test::gather_rows(train, comm), test::gather_targets(train, comm),
                                             test::gather_rows(train, comm), U, s.N0, 0.7, 1.0);
  auto kern = make_renormalized_kernel(KernelForm::automatic, train, 0.7, comm);
  const std::vector<std::int64_t> subset{s.P - 1, 0, 3, 2};
  const std::vector<double> block = kern->kernel_block(U, subset);
  for (size_t a = 0; a < subset.size(); ++a)
    for (size_t b = 0; b < subset.size(); ++b)
      EXPECT_NEAR(block[a * subset.size() + b], ref.K(subset[a], subset[b]), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Shapes, KernelForms,
                         ::testing::Values(Shape{40, 17, 3, 5},     // P > r: dual is the natural form
                                           Shape{13, 9, 4, 6},      // P < r: primal is the natural form
                                           Shape{70, 5, 1, 2}));    // one path (GP-like)

TEST(KernelForm, AutomaticChoice) {
  // The default task (P = 100, H_tot = 4, N0 = 231): path pairs (0.4 MB, ~25× fewer flops than primal).
  EXPECT_EQ(resolve_kernel_form(KernelForm::automatic, 100, 4, 924), KernelForm::path_pairs);
  EXPECT_EQ(resolve_kernel_form(KernelForm::automatic, 10000, 4, 924), KernelForm::dual);
  EXPECT_EQ(resolve_kernel_form(KernelForm::automatic, 925, 4, 924), KernelForm::dual);
  // P ≤ r but the kernels above 32 MiB: H_tot = 4 up to P = 915; the image task (P = 600, 16 paths, 196 MB).
  EXPECT_EQ(resolve_kernel_form(KernelForm::automatic, 915, 4, 924), KernelForm::path_pairs);
  EXPECT_EQ(resolve_kernel_form(KernelForm::automatic, 916, 4, 924), KernelForm::primal);
  EXPECT_GT(path_pair_bytes(916, 4), automatic_path_pair_bytes);
  EXPECT_LE(path_pair_bytes(915, 4), automatic_path_pair_bytes);
  EXPECT_EQ(resolve_kernel_form(KernelForm::automatic, 600, 16, 16 * 64), KernelForm::primal);
  // Many paths on few features: the pairs' H_tot²P²/2 flops exceed the primal's 2P²r.
  EXPECT_EQ(resolve_kernel_form(KernelForm::automatic, 8, 8, 8), KernelForm::primal);
  for (KernelForm f : {KernelForm::primal, KernelForm::dual, KernelForm::path_pairs})
    EXPECT_EQ(resolve_kernel_form(f, 100, 4, 924), f);
  EXPECT_EQ(parse_kernel_form("primal"), KernelForm::primal);
  EXPECT_EQ(parse_kernel_form(to_string(KernelForm::path_pairs)), KernelForm::path_pairs);
  EXPECT_THROW(parse_kernel_form("cholesky"), InputError);
  const Comm& comm = test::world();
  EXPECT_EQ(make_renormalized_kernel(KernelForm::automatic, test::synthetic_path_inputs(13, 4, 6, comm, 1), 1.0, comm)
                ->form(),
            KernelForm::path_pairs);
}

namespace {

// Ξ^T K_T^{-1} Ξ and Ξ^T α by brute force (scaled inputs), [r×r] row-major and [r].
void dense_path_gram(const Eigen::MatrixXd& X, const Eigen::VectorXd& y, const Eigen::MatrixXd& U, int N0,
                     double sigma0_sq, double temp, std::vector<double>& G, std::vector<double>& c) {
  const Eigen::MatrixXd Xi = path_input_scale(sigma0_sq, N0, static_cast<int>(U.rows())) * X;
  const Eigen::MatrixXd K = Xi * kron_identity(U, N0) * Xi.transpose();
  const Eigen::LLT<Eigen::MatrixXd> llt(K + temp * Eigen::MatrixXd::Identity(K.rows(), K.cols()));
  const RowMajorMatrix g = Xi.transpose() * llt.solve(Xi);
  G.assign(g.data(), g.data() + g.size());
  const Eigen::VectorXd cv = Xi.transpose() * llt.solve(y);
  c.assign(cv.data(), cv.data() + cv.size());
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST_P(KernelForms, PathGramMatchesTheDenseReference) {
  // G = Ξ^T K_T^{-1} Ξ and c = Ξ^T α (the energy Hessian's input) in every form, on every rank count.
  const Comm& comm = test::world();
  const Shape s = GetParam();
  const double sigma0_sq = 1.1, temp = 0.07;
  const PathInputs train = test::synthetic_path_inputs(s.P, s.H, s.N0, comm, 51);
  const Eigen::MatrixXd U = test::random_spd(s.H, 4);
  std::vector<double> G_ref, c_ref;
  dense_path_gram(test::gather_rows(train, comm), test::gather_targets(train, comm), U, s.N0, sigma0_sq, temp, G_ref,
                  c_ref);
  std::vector<double> G_primal;
  for (KernelForm form : all_forms) {
    auto k = make_renormalized_kernel(form, train, sigma0_sq, comm);
    k->factor(U, temp);
    std::vector<double> G, c;
    k->path_gram(G, c);
    EXPECT_LT(max_abs_diff(G, G_ref), 1e-11 * max_abs(G_ref)) << to_string(form);
    EXPECT_LT(max_abs_diff(c, c_ref), 1e-11 * max_abs(c_ref)) << to_string(form);
    if (form == KernelForm::primal) G_primal = G;
    // The path-pair form shares the primal's factor-and-solve: to 1e-12; the dual's Woodbury to 1e-11.
    const double tol = form == KernelForm::dual ? 1e-11 : 1e-12;
    EXPECT_LT(max_abs_diff(G, G_primal), tol * max_abs(G_primal)) << to_string(form) << " against primal";
    EXPECT_TRUE(std::isfinite(k->path_gram_flops())) << to_string(form);
  }
}

TEST(KernelForm, RankCountInvariance) {
  // The same kernel on the world and on a single rank holding every example.
  const Comm& world = test::world();
  const Comm self = Comm::view(MPI_COMM_SELF);
  const int H = 3, N0 = 4;
  const PathInputs dist = test::synthetic_path_inputs(30, H, N0, world, 3);
  const PathInputs whole = test::synthetic_path_inputs(30, H, N0, self, 3);
  const PathInputs test_dist = test::synthetic_path_inputs(11, H, N0, world, 4, "test");
  const PathInputs test_whole = test::synthetic_path_inputs(11, H, N0, self, 4, "test");
  const Eigen::MatrixXd U = test::random_spd(H, 2);
  for (KernelForm form : all_forms) {
    auto a = make_renormalized_kernel(form, dist, 1.0, world);
    auto b = make_renormalized_kernel(form, whole, 1.0, self);
    a->factor(U, 0.01);
    b->factor(U, 0.01);
    EXPECT_NEAR(a->log_det(), b->log_det(), 1e-10 * std::abs(b->log_det()));
    EXPECT_NEAR(a->data_fit(), b->data_fit(), 1e-10 * std::abs(b->data_fit()));
    EXPECT_LT((a->energy_gradient() - b->energy_gradient()).cwiseAbs().maxCoeff(), 1e-9);
    const Eigen::VectorXd ma = gather(a->predict(test_dist).mean, world);
    const Eigen::VectorXd mb = Eigen::Map<const Eigen::VectorXd>(b->predict(test_whole).mean.data(), 11);
    EXPECT_LT((ma - mb).cwiseAbs().maxCoeff(), 1e-10);
  }
}

TEST(KernelForm, DualWorkSplitOverFeaturesMatchesOneRank) {
  // The dual form splits its triangular solve and block traces over the ranks by feature i
  // (energy_gradient, path_gram): with N0 = 3 on 4 ranks one rank owns no feature, with N0 = 7 the
  // shares are uneven. Both must equal a single rank holding everything.
  const Comm& world = test::world();
  const Comm self = Comm::view(MPI_COMM_SELF);
  for (const int N0 : {3, 7}) {
    const int H = 2;
    const PathInputs dist = test::synthetic_path_inputs(40, H, N0, world, 6);
    const PathInputs whole = test::synthetic_path_inputs(40, H, N0, self, 6);
    const Eigen::MatrixXd U = test::random_spd(H, 7);
    auto a = make_renormalized_kernel(KernelForm::dual, dist, 1.0, world);
    auto b = make_renormalized_kernel(KernelForm::dual, whole, 1.0, self);
    a->factor(U, 0.05);
    b->factor(U, 0.05);
    const Eigen::MatrixXd ga = a->energy_gradient(), gb = b->energy_gradient();
    EXPECT_LT((ga - gb).cwiseAbs().maxCoeff(), 1e-10 * gb.cwiseAbs().maxCoeff()) << "N0 = " << N0;
    std::vector<double> Ga, ca, Gb, cb;
    a->path_gram(Ga, ca);
    b->path_gram(Gb, cb);
    ASSERT_EQ(Ga.size(), Gb.size());
    double err = 0, big = 0;
    for (std::size_t i = 0; i < Ga.size(); ++i) {
      err = std::max(err, std::abs(Ga[i] - Gb[i]));
      big = std::max(big, std::abs(Gb[i]));
    }
    EXPECT_LT(err, 1e-10 * big) << "N0 = " << N0;
    // The path Gram against its definition Ξ^T K_T^{-1} Ξ through solve() on the whole set.
    for (int col : {0, H * N0 - 1}) {
      std::vector<double> v(40);
      const double s = path_input_scale(1.0, N0, H);
      for (int mu = 0; mu < 40; ++mu) v[static_cast<size_t>(mu)] = s * whole.row(mu)[col];
      const std::vector<double> kv = b->solve(v);
      for (int row = 0; row < H * N0; ++row) {
        double d = 0;
        for (int mu = 0; mu < 40; ++mu) d += s * whole.row(mu)[row] * kv[static_cast<size_t>(mu)];
        EXPECT_NEAR(Ga[static_cast<size_t>(row * H * N0 + col)], d, 1e-9 * big) << "N0 = " << N0;
      }
    }
  }
}

// The primal predictor runs fixed chunks of test rows on OpenMP threads (the BLAS serial inside):
// the same moments to the bit on 1, 2 and 3 threads, with more test rows than one chunk.
TEST(KernelForm, DualKeepsTheSolvedRowsOnlyForTheirFactor) {
  // The dual form keeps the gradient's solved rows for the path Gram of the same factor() (a Newton
  // step needs both), and its Newton steps' work space between calls. After a factor() at another U_1
  // the rows must be solved again: the energy Hessian, the path Gram and the gradient must equal a
  // fresh kernel's, whatever was asked before, on any rank count.
  const Comm& world = test::world();
  const int H = 3, N0 = 5;
  const PathInputs train = test::synthetic_path_inputs(60, H, N0, world, 8);
  const Eigen::MatrixXd Ua = test::random_spd(H, 9), Ub = test::random_spd(H, 10);
  auto used = make_renormalized_kernel(KernelForm::dual, train, 1.0, world);
  auto fresh = make_renormalized_kernel(KernelForm::dual, train, 1.0, world);
  used->factor(Ua, 0.05);
  (void)used->energy_gradient();
  (void)used->energy_hessian();  // fills the Newton steps' kept work space (gathered X, pair columns)
  used->factor(Ub, 0.05);
  fresh->factor(Ub, 0.05);
  EXPECT_EQ((used->energy_hessian() - fresh->energy_hessian()).cwiseAbs().maxCoeff(), 0.0);
  std::vector<double> Gu, cu, Gf, cf;
  used->path_gram(Gu, cu);  // after a gradient at Ua: must not reuse its rows
  fresh->path_gram(Gf, cf);
  EXPECT_EQ(Gu, Gf);
  EXPECT_EQ(cu, cf);
  const Eigen::MatrixXd gu = used->energy_gradient(), gf = fresh->energy_gradient();  // after the path Gram
  EXPECT_EQ((gu - gf).cwiseAbs().maxCoeff(), 0.0);
  used->factor(Ua, 0.05);
  fresh->factor(Ua, 0.05);
  used->path_gram(Gu, cu);
  fresh->path_gram(Gf, cf);
  EXPECT_EQ(Gu, Gf);
}

TEST(KernelForm, PrimalPredictorIsIndependentOfTheThreadCount) {
  const Comm& comm = test::world();
  const PathInputs train = test::synthetic_path_inputs(30, 3, 4, comm, 31);
  const PathInputs testset = test::synthetic_path_inputs(300, 3, 4, comm, 32, "test");
  auto k = make_renormalized_kernel(KernelForm::primal, train, 1.3, comm);
  k->factor(test::random_spd(3, 6), 0.05);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const PredictorMoments one = k->predict(testset);
  for (int n : {2, 3}) {
    omp_set_num_threads(n);
    const PredictorMoments many = k->predict(testset);
    for (std::size_t q = 0; q < one.mean.size(); ++q) {
      ASSERT_EQ(many.mean[q], one.mean[q]) << n << " threads, row " << q;
      ASSERT_EQ(many.var[q], one.var[q]) << n << " threads, row " << q;
    }
  }
  omp_set_num_threads(threads);
}

TEST(KernelForm, PathPairsEqualPrimalToRoundOff) {
  // The theory's default shape in small (P ≤ r, 4 paths): energy, gradient, path Gram, predictor
  // moments (more test rows than one predictor chunk; with and without the prepared train–test pair
  // kernels) and alignment of the path-pair form against the primal form, to round-off, on every rank
  // count.
  const Comm& comm = test::world();
  const int H = 4, N0 = 23;
  const PathInputs train = test::synthetic_path_inputs(60, H, N0, comm, 61);
  const PathInputs testset = test::synthetic_path_inputs(150, H, N0, comm, 62, "test");
  auto primal = make_renormalized_kernel(KernelForm::primal, train, 1.0, comm);
  auto pairs = make_renormalized_kernel(KernelForm::path_pairs, train, 1.0, comm);
  auto prepared = make_renormalized_kernel(KernelForm::path_pairs, train, 1.0, comm);
  prepared->prepare_predictions({&testset});
  for (const Eigen::MatrixXd& U : {test::random_spd(H, 3), Eigen::MatrixXd(Eigen::MatrixXd::Identity(H, H))}) {
    primal->factor(U, 0.01);
    pairs->factor(U, 0.01);
    prepared->factor(U, 0.01);
    EXPECT_NEAR(pairs->log_det(), primal->log_det(), 1e-12 * std::abs(primal->log_det()));
    EXPECT_NEAR(pairs->data_fit(), primal->data_fit(), 1e-12 * std::abs(primal->data_fit()));
    const Eigen::MatrixXd g1 = primal->energy_gradient(), g2 = pairs->energy_gradient();
    EXPECT_LT((g1 - g2).cwiseAbs().maxCoeff(), 1e-12 * g1.cwiseAbs().maxCoeff());
    std::vector<double> G1, c1, G2, c2;
    primal->path_gram(G1, c1);
    pairs->path_gram(G2, c2);
    EXPECT_LT(max_abs_diff(G1, G2), 1e-12 * max_abs(G1));
    EXPECT_LT(max_abs_diff(c1, c2), 1e-12 * max_abs(c1));
    const PredictorMoments m1 = primal->predict(testset);
    for (const PredictorMoments& m2 : {pairs->predict(testset), prepared->predict(testset)}) {
      EXPECT_LT(max_abs_diff(m1.mean, m2.mean), 1e-12 * max_abs(m1.mean));
      EXPECT_LT(max_abs_diff(m1.var, m2.var), 1e-12 * max_abs(m1.var));
    }
    const std::vector<double> a1 = primal->alignment(U, 10), a2 = pairs->alignment(U, 10);
    ASSERT_EQ(a1.size(), 10u);
    EXPECT_LT(max_abs_diff(a1, a2), 1e-10);
  }
  // The path Gram's flops as the primal form's (+ c = Ξ^T α); one evaluation far cheaper.
  EXPECT_GE(pairs->path_gram_flops(), primal->path_gram_flops());
  EXPECT_LT(pairs->evaluation_flops(), primal->evaluation_flops());
}

TEST(KernelForm, NonPositiveDefiniteIsAClearError) {
  const Comm& comm = test::world();
  const PathInputs train = test::synthetic_path_inputs(12, 2, 3, comm, 5);
  Eigen::MatrixXd U = -Eigen::MatrixXd::Identity(2, 2);
  auto k = make_renormalized_kernel(KernelForm::primal, train, 1.0, comm);
  try {
    k->factor(U, 0.01);
    FAIL() << "expected NumericalError";
  } catch (const NumericalError& e) {
    EXPECT_NE(std::string(e.what()).find("not positive definite"), std::string::npos) << e.what();
  }
  auto d = make_renormalized_kernel(KernelForm::dual, train, 1.0, comm);
  EXPECT_THROW(d->factor(U, 0.01), NumericalError);
  auto pp = make_renormalized_kernel(KernelForm::path_pairs, train, 1.0, comm);
  EXPECT_THROW(pp->factor(U, 0.01), NumericalError);
  // A failed factor() is not remembered as done, even after a successful one: the same call fails again.
  for (RenormalizedKernel* kernel : {k.get(), d.get(), pp.get()}) {
    kernel->factor(Eigen::MatrixXd::Identity(2, 2), 0.01);
    EXPECT_THROW(kernel->factor(U, 0.01), NumericalError);
    EXPECT_THROW(kernel->factor(U, 0.01), NumericalError);
  }
}

TEST(KernelForm, RepeatedFactorIsSkipped) {
  // factor() at the U_1 and Temp of the last successful one does no work (the predictor after the
  // minimiser); any other U_1 or Temp does, and the results are a fresh kernel's.
  const Comm& comm = test::world();
  const PathInputs train = test::synthetic_path_inputs(30, 2, 4, comm, 11);
  const Eigen::MatrixXd Ua = test::random_spd(2, 12), Ub = test::random_spd(2, 13);
  for (const KernelForm form : {KernelForm::primal, KernelForm::dual, KernelForm::path_pairs}) {
    auto k = make_renormalized_kernel(form, train, 1.0, comm);
    auto fresh = make_renormalized_kernel(form, train, 1.0, comm);
    k->factor(Ua, 0.05);
    k->factor(Ua, 0.05);
    EXPECT_EQ(k->factorizations(), 1);
    k->factor(Ua, 0.06);
    k->factor(Ub, 0.06);
    k->factor(Ua, 0.05);
    EXPECT_EQ(k->factorizations(), 4);
    fresh->factor(Ua, 0.05);
    EXPECT_EQ(k->log_det(), fresh->log_det());
    EXPECT_EQ(k->data_fit(), fresh->data_fit());
    EXPECT_EQ((k->energy_gradient() - fresh->energy_gradient()).cwiseAbs().maxCoeff(), 0.0);
  }
}
