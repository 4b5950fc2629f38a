// Owning, move-only wrappers for PETSc handles: `.get()` for C calls, destroyed in
// the destructor (which never throws). Must all be gone before the Runtime finalises PETSc.
#pragma once

#include <petscmat.h>
#include <petsctao.h>
#include <petscvec.h>

#include <utility>

namespace attnpaths::petsc {

template <class T, PetscErrorCode (*Destroy)(T*)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T h) : h_(h) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  T get() const { return h_; }
  T* out() {  // for PETSc calls that create the object: MatCreate(comm, m.out())
    reset();
    return &h_;
  }
  T* raw() { return &h_; }  // for PETSc calls with MAT_REUSE_MATRIX (keeps the object)
  explicit operator bool() const { return h_ != nullptr; }
  void reset() {
    if (h_) Destroy(&h_);
    h_ = nullptr;
  }

 private:
  T h_ = nullptr;
};

// Adds dense BLAS/LAPACK work done outside PETSc to PETSc's per-process flop counter, so that
// -log_view reports flop rates. Call outside OpenMP parallel regions (the counter is one global).
inline void log_flops(double flops) { (void)PetscLogFlops(flops); }

using Matrix = Handle<Mat, MatDestroy>;
using Vector = Handle<Vec, VecDestroy>;
using Scatter = Handle<VecScatter, VecScatterDestroy>;
using Solver = Handle<Tao, TaoDestroy>;

}  // namespace attnpaths::petsc
