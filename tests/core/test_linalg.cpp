// core/linalg: the matrix–vector product and the in-place inverse from a Cholesky factor against
// independent computations (plain loops and Eigen's LU inverse).
#include <gtest/gtest.h>

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <vector>

#include "attnpaths/core/linalg.hpp"
#include "attnpaths/core/rng.hpp"
#include "test_support.hpp"

using namespace attnpaths;

TEST(Linalg, GemvBothOrientationsAgainstLoops) {
  RandomStream rng(2, rng_domain::test, 0);
  const int m = 7, n = 5, lda = 9;  // row stride larger than n
  std::vector<double> a(m * lda), x(m), y(n, 0.5), xn(n), yn(m, -1.0);
  for (auto& v : a) v = rng.normal();
  for (auto& v : x) v = rng.normal();
  for (auto& v : xn) v = rng.normal();
  std::vector<double> ref_t(y), ref_n(yn);
  for (int j = 0; j < n; ++j) {
    double s = 0;
    for (int i = 0; i < m; ++i) s += a[i * lda + j] * x[i];
    ref_t[j] = 2.0 * s + 0.25 * y[j];
  }
  for (int i = 0; i < m; ++i) {
    double s = 0;
    for (int j = 0; j < n; ++j) s += a[i * lda + j] * xn[j];
    ref_n[i] = -1.5 * s + 1.0 * yn[i];
  }
  linalg::gemv(true, m, n, 2.0, a.data(), lda, x.data(), 0.25, y.data());
  linalg::gemv(false, m, n, -1.5, a.data(), lda, xn.data(), 1.0, yn.data());
  for (int j = 0; j < n; ++j) EXPECT_NEAR(y[j], ref_t[j], 1e-13);
  for (int i = 0; i < m; ++i) EXPECT_NEAR(yn[i], ref_n[i], 1e-13);
}

// Sizes around the recursion's base (16) and odd splits; the strict upper triangle must stay untouched.
TEST(Linalg, CholeskyInverseLowerAgainstEigen) {
  for (int n : {1, 2, 15, 16, 17, 33, 100, 257}) {
    SCOPED_TRACE(n);
    RandomStream rng(3, rng_domain::test, static_cast<std::uint64_t>(n));
    Eigen::MatrixXd b(n, n);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) b(i, j) = rng.normal();
    const Eigen::MatrixXd k = b * b.transpose() + 0.5 * n * Eigen::MatrixXd::Identity(n, n);
    std::vector<double> a(static_cast<std::size_t>(n) * n);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) a[i * n + j] = k(i, j);
    ASSERT_TRUE(linalg::cholesky(n, a.data(), n));
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j) a[i * n + j] = 7.0;  // a marker in the strict upper triangle
    linalg::cholesky_inverse_lower(n, a.data(), n);
    const Eigen::MatrixXd inv = k.inverse();
    const double scale = inv.cwiseAbs().maxCoeff();
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        if (j > i)
          EXPECT_EQ(a[i * n + j], 7.0);
        else
          EXPECT_NEAR(a[i * n + j], inv(i, j), 1e-12 * scale) << i << "," << j;
      }
  }
}

// The top-k eigenpairs (dsyevr) against Eigen's full decomposition: values, and vectors up to sign;
// only the lower triangle of the row-major input is read.
TEST(Linalg, TopSymmetricEigenAgainstEigen) {
  const int n = 40;
  RandomStream rng(4, rng_domain::test, 0);
  Eigen::MatrixXd b(n, n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) b(i, j) = rng.normal();
  const Eigen::MatrixXd k = b * b.transpose();
  std::vector<double> a(static_cast<std::size_t>(n) * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) a[i * n + j] = j > i ? 1e3 : k(i, j);  // garbage above the diagonal
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(k);
  for (int top : {0, 1, 7, n, n + 5}) {
    SCOPED_TRACE(top);
    std::vector<double> values, vectors;
    linalg::top_symmetric_eigen(n, a.data(), n, top, values, vectors);
    const int m = std::min(top, n);
    ASSERT_EQ(static_cast<int>(values.size()), m);
    ASSERT_EQ(static_cast<int>(vectors.size()), n * m);
    for (int j = 0; j < m; ++j) {  // ascending: values[m-1] is the largest
      const int e = n - m + j;
      EXPECT_NEAR(values[j], es.eigenvalues()(e), 1e-10 * es.eigenvalues()(n - 1));
      double dot = 0;
      for (int i = 0; i < n; ++i) dot += vectors[i * m + j] * es.eigenvectors()(i, e);
      EXPECT_NEAR(std::abs(dot), 1.0, 1e-8);
    }
  }
}
