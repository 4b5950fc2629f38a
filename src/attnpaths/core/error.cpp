#include "attnpaths/core/error.hpp"

#include <mpi.h>
#include <petscsys.h>

namespace attnpaths {

void petsc_check(int ierr, const char* call, const char* file, int line) {
  if (ierr == 0) return;
  const char* text = nullptr;
  char* specific = nullptr;
  PetscErrorMessage(static_cast<PetscErrorCode>(ierr), &text, &specific);
  throw LibraryError(fmt::format("PETSc error {} ({}{}{}) in `{}` at {}:{}", ierr, text ? text : "",
                                 specific ? ": " : "", specific ? specific : "", call, file, line));
}

void mpi_check(int ierr, const char* call, const char* file, int line) {
  if (ierr == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(ierr, text, &len);
  throw LibraryError(fmt::format("MPI error ({}) in `{}` at {}:{}", std::string(text, static_cast<size_t>(len)),
                                 call, file, line));
}

namespace {
bool rank_failure_thrown = false;
}  // namespace

RankFailure::RankFailure(const std::string& what, int exit_code) : Error(what), exit_code_(exit_code) {
  rank_failure_thrown = true;
}

bool rank_failed() { return rank_failure_thrown; }

}  // namespace attnpaths
