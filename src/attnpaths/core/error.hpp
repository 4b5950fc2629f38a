// One error policy: the library throws typed exceptions; `main` prints the failing
// rank and message and calls MPI_Abort. Library return codes (PETSc, HDF5, MPI) are converted to
// exceptions at the boundary by the check helpers below.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace attnpaths {

// Base of every attnpaths error; `exit_code()` is what the command returns (listed in README.md, "Exit codes").
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
  virtual int exit_code() const { return 1; }
};

// Bad user input: options, missing files, wrong shapes, NaN/Inf in data.
class InputError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 3; }
};

// A usage error: a required option is missing (the same exit code as a command-line parse error).
class UsageError : public InputError {
 public:
  using InputError::InputError;
  int exit_code() const override { return 2; }
};

// A numerical failure: non-positive-definite matrix, NaN produced by a computation.
class NumericalError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 4; }
};

// An iterative method did not meet its stopping rule (reported after everything was written).
class ConvergenceError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 5; }
};

// A failure inside PETSc, HDF5 or MPI that is not attributable to user input.
class LibraryError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 6; }
};

// A run stopped by SIGTERM/SIGUSR1 after checkpointing; resume with --resume.
class Interrupted : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 75; }  // EX_TEMPFAIL: try again later (resume)
};

// A failure on this rank alone while the other ranks are elsewhere (e.g. inside one sampler chain):
// no collective call may follow, so destructors that would wait for the other ranks (a collective
// file close) skip that while it unwinds (rank_failed()), and `main` aborts every rank with this
// message and the original exit code. Throw it only where the other ranks cannot be told.
class RankFailure : public Error {
 public:
  RankFailure(const std::string& what, int exit_code);
  int exit_code() const override { return exit_code_; }

 private:
  int exit_code_;
};
// True once a RankFailure was thrown in this process.
bool rank_failed();

// Throws ExcType(formatted message) unless cond holds.
#define ATTN_REQUIRE(cond, ExcType, ...)                     \
  do {                                                       \
    if (!(cond)) throw ExcType(::fmt::format(__VA_ARGS__));  \
  } while (0)

// Converts a PETSc error code to a LibraryError carrying PETSc's message and the call text.
void petsc_check(int ierr, const char* call, const char* file, int line);
// Converts an MPI error code to a LibraryError.
void mpi_check(int ierr, const char* call, const char* file, int line);

}  // namespace attnpaths

#define PETSC_CALL(expr) ::attnpaths::petsc_check((expr), #expr, __FILE__, __LINE__)
#define MPI_CALL(expr) ::attnpaths::mpi_check((expr), #expr, __FILE__, __LINE__)
