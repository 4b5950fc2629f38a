// The two operations the primal kernel needs on a MATSCALAPACK Cholesky factor for which PETSc 3.18
// has no public call: the log-determinant (read off the factor's diagonal) and the explicit inverse
// (ScaLAPACK pdpotri). Both need the factor's block-cyclic local array, which only PETSc's private
// header petsc/private/petscscalapack.h (struct Mat_ScaLAPACK) exposes. scalapack_access.cpp is the
// one file that includes that header, so a PETSc upgrade that changes the struct breaks only it.
#pragma once

#include <petscmat.h>

#include <cstdint>

namespace attnpaths::scalapack {

// Σ log L_ii over the diagonal entries of the Cholesky factor L held by this rank (sum over ranks
// for log det = 2 Σ log L_ii), and the factor's global order.
struct LocalLogDiagonal {
  double sum = 0;
  std::int64_t order = 0;
};
LocalLogDiagonal local_log_diagonal(Mat factor);

// K^{-1} = (L L^T)^{-1} from the Cholesky factor (pdpotri fills the lower triangle; the upper one is
// mirrored through a block-cyclic transpose, pdtran, into `work`). `inverse` and `work` are
// MATSCALAPACK matrices with the factor's distribution. Throws NumericalError if pdpotri fails.
void inverse_from_cholesky(Mat factor, Mat inverse, Mat work);

}  // namespace attnpaths::scalapack
