// Dense BLAS/LAPACK on raw row-major arrays (OpenBLAS through Debian's libblas/liblapack
// alternatives). Row-major C = A·B is computed as the column-major C^T = B^T·A^T, so callers think
// in row-major only. Failures (non-PD, bad arguments) throw NumericalError.
#pragma once

#include <cstdint>
#include <vector>

namespace attnpaths::linalg {

// C[m×n] = alpha·op(A)·op(B) + beta·C, row-major; op(X) = X or X^T; lda etc. are row strides.
void gemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
          int ldb, double beta, double* c, int ldc);
// The same in single precision (sgemm).
void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
          int ldb, float beta, float* c, int ldc);
// y[m] = alpha·A·x + beta·y (trans=false, A is m×n row-major) or y[n] = alpha·A^T·x + beta·y (trans=true).
void gemv(bool trans, int m, int n, double alpha, const double* a, int lda, const double* x, double beta, double* y);
// C[n×n] = alpha·A·A^T + beta·C (trans=false, A is n×k) or alpha·A^T·A + beta·C (trans=true, A is k×n);
// both triangles of C are filled on return.
void syrk(bool trans, int n, int k, double alpha, const double* a, int lda, double beta, double* c, int ldc);
// In-place Cholesky A = L·L^T of a symmetric n×n row-major matrix; returns false if not PD.
// On success the lower triangle holds L (upper triangle is zeroed).
bool cholesky(int n, double* a, int lda);
// Solves (L·L^T) X = B in place for B [n×nrhs] row-major, given the factor from cholesky().
void cholesky_solve(int n, int nrhs, const double* l, int ldl, double* b, int ldb);
// Solves L·X = B in place (L lower triangular n×n from cholesky(), B [n×nrhs] row-major).
void lower_solve(int n, int nrhs, const double* l, int ldl, double* b, int ldb);
// Solves X·L^T = B in place (X = B L^{-T}; L lower triangular n×n from cholesky(), B [m×n] row-major).
void lower_transpose_solve_right(int m, int n, const double* l, int ldl, double* b, int ldb);
// log det of L·L^T from the factor.
double cholesky_logdet(int n, const double* l, int ldl);
// Inverse of an SPD matrix from its factor, both triangles filled.
void cholesky_inverse(int n, const double* l, int ldl, double* inv, int ldinv);
// In place: the factor L (lower triangle of a) becomes the lower triangle of (L L^T)^{-1}; the strict
// upper triangle is not touched (no copy, no mirroring: for callers that read one triangle).
void cholesky_inverse_lower(int n, double* a, int lda);
// Eigen-decomposition of a symmetric n×n matrix: eigenvalues ascending; row-major `vectors` with
// eigenvector k in COLUMN k (vectors[i*n + k]).
void symmetric_eigen(int n, const double* a, int lda, std::vector<double>& values, std::vector<double>& vectors);
// The `top` largest eigenpairs only (LAPACK's dsyevr: one tridiagonalisation, then only those vectors),
// ascending like symmetric_eigen: m = min(top, n) values, `vectors` n×m row-major, eigenvector k in
// column k (vectors[i*m + k]). Reads the lower triangle of the row-major a.
void top_symmetric_eigen(int n, const double* a, int lda, int top, std::vector<double>& values,
                         std::vector<double>& vectors);

}  // namespace attnpaths::linalg
