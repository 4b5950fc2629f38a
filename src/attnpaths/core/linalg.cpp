#include "attnpaths/core/linalg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"

extern "C" {
void dgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c,
            const int* ldc);
void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
            const int* ldc);
void dgemv_(const char* t, const int* m, const int* n, const double* alpha, const double* a, const int* lda,
            const double* x, const int* incx, const double* beta, double* y, const int* incy);
void dsyrk_(const char* uplo, const char* trans, const int* n, const int* k, const double* alpha, const double* a,
            const int* lda, const double* beta, double* c, const int* ldc);
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dpotrs_(const char* uplo, const int* n, const int* nrhs, const double* a, const int* lda, double* b,
             const int* ldb, int* info);
void dpotri_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dtrti2_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info);
void dlauum_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dtrmm_(const char* side, const char* uplo, const char* transa, const char* diag, const int* m, const int* n,
            const double* alpha, const double* a, const int* lda, double* b, const int* ldb);
void dtrsm_(const char* side, const char* uplo, const char* transa, const char* diag, const int* m, const int* n,
            const double* alpha, const double* a, const int* lda, double* b, const int* ldb);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
             const int* lwork, int* iwork, const int* liwork, int* info);
void dsyevr_(const char* jobz, const char* range, const char* uplo, const int* n, double* a, const int* lda,
             const double* vl, const double* vu, const int* il, const int* iu, const double* abstol, int* m, double* w,
             double* z, const int* ldz, int* isuppz, double* work, const int* lwork, int* iwork, const int* liwork,
             int* info);
}

namespace attnpaths::linalg {

void gemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
          int ldb, double beta, double* c, int ldc) {
  if (m == 0 || n == 0) return;
  // Row-major C = op(A) op(B)  <=>  column-major C^T = op(B)^T op(A)^T.
  const char tb = trans_b ? 'T' : 'N', ta = trans_a ? 'T' : 'N';
  dgemm_(&tb, &ta, &n, &m, &k, &alpha, b, &ldb, a, &lda, &beta, c, &ldc);
}

void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
          int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  const char tb = trans_b ? 'T' : 'N', ta = trans_a ? 'T' : 'N';
  sgemm_(&tb, &ta, &n, &m, &k, &alpha, b, &ldb, a, &lda, &beta, c, &ldc);
}

void gemv(bool trans, int m, int n, double alpha, const double* a, int lda, const double* x, double beta, double* y) {
  if (m == 0 || n == 0) return;
  // Row-major A [m×n] is column-major A^T [n×m]: A·x is 'T' on it, A^T·x is 'N'.
  const char t = trans ? 'N' : 'T';
  const int one = 1;
  dgemv_(&t, &n, &m, &alpha, a, &lda, x, &one, &beta, y, &one);
}

void syrk(bool trans, int n, int k, double alpha, const double* a, int lda, double beta, double* c, int ldc) {
  if (n == 0) return;
  // Row-major A·A^T (A n×k) is column-major A'^T·A' with A' = A^T (k×n, ld lda): trans 'T'.
  const char uplo = 'U', t = trans ? 'N' : 'T';
  dsyrk_(&uplo, &t, &n, &k, &alpha, a, &lda, &beta, c, &ldc);
  // Column-major upper = row-major lower: mirror into the row-major upper triangle.
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) c[i * ldc + j] = c[j * ldc + i];
}

bool cholesky(int n, double* a, int lda) {
  // Row-major lower L L^T == column-major upper U^T U with U = L^T.
  const char uplo = 'U';
  int info = 0;
  dpotrf_(&uplo, &n, a, &lda, &info);
  if (info < 0) throw NumericalError(fmt::format("dpotrf: illegal argument {}", -info));
  if (info > 0) return false;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) a[i * lda + j] = 0.0;
  return true;
}

void cholesky_solve(int n, int nrhs, const double* l, int ldl, double* b, int ldb) {
  // B row-major [n×nrhs] is column-major [nrhs×n] = B^T; solve X^T (L L^T) = B^T by solving on the transpose.
  // One contiguous right-hand side is the same array in both orders: no transpose (no allocation).
  if (nrhs == 1 && ldb == 1) {
    const char uplo = 'U';
    int info = 0;
    dpotrs_(&uplo, &n, &nrhs, l, &ldl, b, &n, &info);
    if (info != 0) throw NumericalError(fmt::format("dpotrs: info {}", info));
    return;
  }
  // Otherwise: transpose into column-major, solve, transpose back.
  std::vector<double> bt(static_cast<size_t>(n) * static_cast<size_t>(nrhs));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < nrhs; ++j) bt[static_cast<size_t>(j) * static_cast<size_t>(n) + static_cast<size_t>(i)] = b[i * ldb + j];
  const char uplo = 'U';
  int info = 0;
  dpotrs_(&uplo, &n, &nrhs, l, &ldl, bt.data(), &n, &info);
  if (info != 0) throw NumericalError(fmt::format("dpotrs: info {}", info));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < nrhs; ++j) b[i * ldb + j] = bt[static_cast<size_t>(j) * static_cast<size_t>(n) + static_cast<size_t>(i)];
}

void lower_solve(int n, int nrhs, const double* l, int ldl, double* b, int ldb) {
  if (n == 0 || nrhs == 0) return;
  // Row-major L (lower) is column-major U = L^T (upper); row-major B [n×nrhs] is column-major B^T.
  // L X = B  <=>  X^T L^T = B^T  <=>  X^T U = B^T: solve from the right with the upper factor.
  const char side = 'R', uplo = 'U', trans = 'N', diag = 'N';
  const double one = 1.0;
  dtrsm_(&side, &uplo, &trans, &diag, &nrhs, &n, &one, l, &ldl, b, &ldb);
}

void lower_transpose_solve_right(int m, int n, const double* l, int ldl, double* b, int ldb) {
  if (m == 0 || n == 0) return;
  // Row-major B [m×n] is column-major B^T [n×m]; X L^T = B  <=>  L X^T = B^T. Row-major L is
  // column-major U = L^T, so this is U^T X^T = B^T: left side, upper, transposed.
  const char side = 'L', uplo = 'U', trans = 'T', diag = 'N';
  const double one = 1.0;
  dtrsm_(&side, &uplo, &trans, &diag, &n, &m, &one, l, &ldl, b, &ldb);
}

double cholesky_logdet(int n, const double* l, int ldl) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += std::log(l[i * ldl + i]);
  return 2.0 * s;
}

void cholesky_inverse(int n, const double* l, int ldl, double* inv, int ldinv) {
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) inv[i * ldinv + j] = j <= i ? l[i * ldl + j] : 0.0;
  const char uplo = 'U';
  int info = 0;
  dpotri_(&uplo, &n, inv, &ldinv, &info);
  if (info != 0) throw NumericalError(fmt::format("dpotri: info {}", info));
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) inv[i * ldinv + j] = inv[j * ldinv + i];
}

namespace {
// In place inverse of the column-major upper triangular U [n×n], recursively: U = [A B; 0 C] gives
// U^{-1} = [A^{-1}, −A^{-1} B C^{-1}; 0, C^{-1}] (two TRMMs per level; unblocked below 16). At the
// sampler's sizes (P ~ 10²) this is ~2× faster than OpenBLAS's dtrtri, which stays in level-2 BLAS there.
void upper_triangular_inverse(int n, double* a, int lda) {
  int info = 0;
  if (n <= 16) {
    const char uplo = 'U', diag = 'N';
    dtrti2_(&uplo, &diag, &n, a, &lda, &info);
    if (info != 0) throw NumericalError(fmt::format("dtrti2: info {}", info));
    return;
  }
  const int n1 = n / 2, n2 = n - n1;
  double* A = a;
  double* B = a + static_cast<std::size_t>(n1) * static_cast<std::size_t>(lda);
  double* C = B + n1;
  upper_triangular_inverse(n1, A, lda);
  upper_triangular_inverse(n2, C, lda);
  const char left = 'L', right = 'R', uplo = 'U', no = 'N', diag = 'N';
  const double minus_one = -1.0, one = 1.0;
  dtrmm_(&left, &uplo, &no, &diag, &n1, &n2, &minus_one, A, &lda, B, &lda);  // B = −A^{-1} B
  dtrmm_(&right, &uplo, &no, &diag, &n1, &n2, &one, C, &lda, B, &lda);       // B = B C^{-1}
}
}  // namespace

void cholesky_inverse_lower(int n, double* a, int lda) {
  // Row-major lower L = column-major upper U = L^T (as in cholesky()): (U^T U)^{-1} = U^{-1} U^{-T},
  // U^{-1} in place, then LAUUM forms U^{-1} U^{-T} in the same triangle (as LAPACK's dpotri does).
  if (n == 0) return;
  upper_triangular_inverse(n, a, lda);
  const char uplo = 'U';
  int info = 0;
  dlauum_(&uplo, &n, a, &lda, &info);
  if (info != 0) throw NumericalError(fmt::format("dlauum: info {}", info));
}

void symmetric_eigen(int n, const double* a, int lda, std::vector<double>& values, std::vector<double>& vectors) {
  values.assign(static_cast<size_t>(n), 0.0);
  std::vector<double> m(static_cast<size_t>(n) * static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) m[static_cast<size_t>(i) * static_cast<size_t>(n) + static_cast<size_t>(j)] = a[i * lda + j];
  const char jobz = 'V', uplo = 'U';
  int info = 0, lwork = -1, liwork = -1, iw = 0;
  double w = 0;
  dsyevd_(&jobz, &uplo, &n, m.data(), &n, values.data(), &w, &lwork, &iw, &liwork, &info);
  lwork = static_cast<int>(w);
  liwork = iw;
  std::vector<double> work(static_cast<size_t>(lwork));
  std::vector<int> iwork(static_cast<size_t>(liwork));
  dsyevd_(&jobz, &uplo, &n, m.data(), &n, values.data(), work.data(), &lwork, iwork.data(), &liwork, &info);
  if (info != 0) throw NumericalError(fmt::format("dsyevd: info {}", info));
  // Column-major eigenvectors (column k contiguous) -> row-major with eigenvector k in column k.
  vectors.assign(m.size(), 0.0);
  for (int k = 0; k < n; ++k)
    for (int i = 0; i < n; ++i)
      vectors[static_cast<size_t>(i) * static_cast<size_t>(n) + static_cast<size_t>(k)] =
          m[static_cast<size_t>(k) * static_cast<size_t>(n) + static_cast<size_t>(i)];
}

void top_symmetric_eigen(int n, const double* a, int lda, int top, std::vector<double>& values,
                         std::vector<double>& vectors) {
  const int want = std::min(std::max(top, 0), n);
  values.clear();
  vectors.clear();
  if (want == 0) return;
  std::vector<double> m(static_cast<size_t>(n) * static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) m[static_cast<size_t>(i) * static_cast<size_t>(n) + static_cast<size_t>(j)] = a[i * lda + j];
  const char jobz = 'V', range = 'I', uplo = 'U';  // column-major upper = row-major lower
  const int il = n - want + 1, iu = n;
  const double vl = 0, vu = 0, abstol = 0;  // 0: LAPACK's default tolerance
  int found = 0, info = 0, lwork = -1, liwork = -1, iw = 0;
  double w = 0;
  std::vector<double> z(static_cast<size_t>(n) * static_cast<size_t>(want)), vals(static_cast<size_t>(n));
  std::vector<int> isuppz(2 * static_cast<size_t>(want));
  dsyevr_(&jobz, &range, &uplo, &n, m.data(), &n, &vl, &vu, &il, &iu, &abstol, &found, vals.data(), z.data(), &n,
          isuppz.data(), &w, &lwork, &iw, &liwork, &info);
  lwork = static_cast<int>(w);
  liwork = iw;
  std::vector<double> work(static_cast<size_t>(lwork));
  std::vector<int> iwork(static_cast<size_t>(liwork));
  dsyevr_(&jobz, &range, &uplo, &n, m.data(), &n, &vl, &vu, &il, &iu, &abstol, &found, vals.data(), z.data(), &n,
          isuppz.data(), work.data(), &lwork, iwork.data(), &liwork, &info);
  if (info != 0 || found != want) throw NumericalError(fmt::format("dsyevr: info {}, {} of {} eigenpairs", info, found, want));
  values.assign(vals.begin(), vals.begin() + want);
  vectors.assign(static_cast<size_t>(n) * static_cast<size_t>(want), 0.0);
  for (int k = 0; k < want; ++k)
    for (int i = 0; i < n; ++i)
      vectors[static_cast<size_t>(i) * static_cast<size_t>(want) + static_cast<size_t>(k)] =
          z[static_cast<size_t>(k) * static_cast<size_t>(n) + static_cast<size_t>(i)];
}

}  // namespace attnpaths::linalg
