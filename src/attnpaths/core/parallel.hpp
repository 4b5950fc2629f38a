// One threading layer per stage (docs/benchmarks.md, "Threads"): a loop over independent items whose
// bodies call the BLAS runs on OpenMP threads with the BLAS serial inside each (SerialBlas), so that
// OpenMP and OpenBLAS workers never spin against each other. The items are fixed by the caller, so a
// result computed item by item does not depend on the thread count.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <exception>

#include "attnpaths/core/runtime.hpp"

namespace attnpaths {

// Threads for a loop of `items` BLAS-calling items: the larger of the OpenMP and BLAS settings (the
// theory's default policy gives OpenMP 1 thread and the BLAS all of them), at most one per item.
inline int blas_loop_threads(std::int64_t items) {
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(items, std::max(omp_get_max_threads(), blas_threads()))));
}

// body(k, thread) for k in [0, items) on blas_loop_threads(items) threads, the BLAS serial meanwhile;
// `thread` indexes per-thread workspaces (< blas_loop_threads(items)). The first exception thrown by
// any item is rethrown here, after the loop.
template <class Body>
void blas_parallel_for(std::int64_t items, Body&& body) {
  if (items <= 0) return;
  const int threads = blas_loop_threads(items);  // before the BLAS is made serial
  const SerialBlas serial;
  std::exception_ptr error;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (std::int64_t k = 0; k < items; ++k) {
    try {
      body(k, omp_get_thread_num());
    } catch (...) {
#pragma omp critical(attnpaths_blas_parallel_for)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace attnpaths
