// The machine's measured dense-linear-algebra peaks (benchmarks quote ratios against these).
#pragma once

namespace attnpaths::bench {

struct Peaks {
  double dgemm_gflops = 0, cholesky_gflops = 0;
  int n = 0;
};

// DGEMM and LAPACK Cholesky (dpotrf) at size n, best of `repeats`, with the current BLAS threads.
Peaks measure_peaks(int n = 4000, int repeats = 2);

// Prints OPENBLAS_CORETYPE / OPENBLAS_NUM_THREADS / OMP_NUM_THREADS as seen by this process.
void print_environment();

}  // namespace attnpaths::bench
