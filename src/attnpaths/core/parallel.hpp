// One threading layer per stage (docs/benchmarks.md, "Threads"): a loop over independent items whose
// bodies call the BLAS runs on the threads of a small pool with the BLAS serial inside each
// (SerialBlas). The pool's threads block while idle (no spinning, unlike OpenMP's and OpenBLAS's
// workers, which would steal the cores from the BLAS stages that follow). The items are fixed by the
// caller, so a result computed item by item does not depend on the thread count.
#pragma once

#include <cstdint>
#include <functional>

namespace attnpaths {

// Threads for a loop of `items` BLAS-calling items: the larger of the OpenMP and BLAS settings (the
// theory's default policy gives OpenMP 1 thread and the BLAS all of them), at most one per item.
int blas_loop_threads(std::int64_t items);

// body(k, thread) for k in [0, items) on blas_loop_threads(items) threads (the caller's among them),
// the BLAS serial meanwhile; `thread` < blas_loop_threads(items) indexes per-thread workspaces. Bodies
// must not call MPI or PETSc. The first exception thrown by any item is rethrown here, after the loop.
void blas_parallel_for(std::int64_t items, const std::function<void(std::int64_t, int)>& body);

}  // namespace attnpaths
