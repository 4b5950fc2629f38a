// The only file that includes PETSc's private ScaLAPACK header (see scalapack_access.hpp for why).
#include "attnpaths/kernels/scalapack_access.hpp"

#include <petsc/private/petscscalapack.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/petsc.hpp"

// ScaLAPACK's inverse from a Cholesky factor (not declared by PETSc's private header).
#define SCALAPACKpotri_ PETSCSCALAPACK(potri, POTRI)
extern "C" void SCALAPACKpotri_(const char* uplo, PetscBLASInt* n, PetscScalar* a, PetscBLASInt* ia, PetscBLASInt* ja,
                                PetscBLASInt* desca, PetscBLASInt* info);

namespace attnpaths::scalapack {

namespace {
const Mat_ScaLAPACK& layout(Mat m) { return *static_cast<const Mat_ScaLAPACK*>(m->data); }
Mat_ScaLAPACK& layout_mut(Mat m) { return *static_cast<Mat_ScaLAPACK*>(m->data); }
}  // namespace

LocalLogDiagonal local_log_diagonal(Mat factor) {
  const Mat_ScaLAPACK& a = layout(factor);
  LocalLogDiagonal out;
  out.order = a.M;
  for (PetscInt i = 0; i < a.M; ++i) {
    const PetscInt brow = i / a.mb, bcol = i / a.nb;
    if ((brow + a.rsrc) % a.grid->nprow != a.grid->myrow || (bcol + a.csrc) % a.grid->npcol != a.grid->mycol)
      continue;
    const PetscInt lr = (brow / a.grid->nprow) * a.mb + i % a.mb;
    const PetscInt lc = (bcol / a.grid->npcol) * a.nb + i % a.nb;
    out.sum += std::log(a.loc[lr + lc * a.lld]);
  }
  return out;
}

void inverse_from_cholesky(Mat factor, Mat inverse, Mat work) {
  const Mat_ScaLAPACK& f = layout(factor);
  Mat_ScaLAPACK& a = layout_mut(inverse);
  Mat_ScaLAPACK& t = layout_mut(work);
  ATTN_REQUIRE(f.lld == a.lld && f.locc == a.locc && f.mb == a.mb && f.nb == a.nb, LibraryError,
               "internal: the Cholesky factor and the inverse have different ScaLAPACK distributions");
  std::copy_n(f.loc, static_cast<std::size_t>(f.lld) * static_cast<std::size_t>(f.locc), a.loc);
  PetscBLASInt one = 1, info = 0, n = a.M;
  SCALAPACKpotri_("L", &n, a.loc, &one, &one, a.desc, &info);
  if (info != 0) throw NumericalError(fmt::format("ScaLAPACK pdpotri failed (info = {}) inverting K_T", info));
  const double order = static_cast<double>(n);
  petsc::log_flops(2.0 / 3.0 * order * order * order / (a.grid->nprow * a.grid->npcol));  // this rank's share
  PetscScalar sone = 1.0, zero = 0.0;
  PBLAStran_(&n, &n, &sone, a.loc, &one, &one, a.desc, &zero, t.loc, &one, &one, t.desc);  // t = a^T
  const PetscBLASInt rows = a.grid->nprow, cols = a.grid->npcol;
  for (PetscBLASInt lc = 0; lc < a.locc; ++lc) {
    const PetscBLASInt j = ((lc / a.nb) * cols + (a.grid->mycol - a.csrc + cols) % cols) * a.nb + lc % a.nb;
    for (PetscBLASInt lr = 0; lr < a.locr; ++lr) {
      const PetscBLASInt i = ((lr / a.mb) * rows + (a.grid->myrow - a.rsrc + rows) % rows) * a.mb + lr % a.mb;
      if (i < j) a.loc[lr + lc * a.lld] = t.loc[lr + lc * a.lld];  // upper from the lower triangle
    }
  }
}

}  // namespace attnpaths::scalapack
