#include "peaks.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "attnpaths/core/linalg.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/rng.hpp"
#include "test_support.hpp"

namespace attnpaths::bench {

Peaks measure_peaks(int n, int repeats) {
  Peaks p;
  p.n = n;
  const std::size_t nn = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  std::vector<double> a(nn), b(nn), c(nn);
  RandomStream rng(1, rng_domain::test, 0);
  for (auto& v : a) v = rng.normal();
  for (auto& v : b) v = rng.normal();
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = wall_seconds();
    linalg::gemm(false, false, n, n, n, 1.0, a.data(), n, b.data(), n, 0.0, c.data(), n);
    best = std::min(best, wall_seconds() - t0);
  }
  p.dgemm_gflops = 2.0 * n * static_cast<double>(n) * n / best * 1e-9;
  // SPD matrix: A A^T / n + I
  linalg::gemm(false, true, n, n, n, 1.0 / n, a.data(), n, a.data(), n, 0.0, b.data(), n);
  for (int i = 0; i < n; ++i) b[static_cast<std::size_t>(i) * static_cast<std::size_t>(n) + static_cast<std::size_t>(i)] += 1.0;
  best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    c = b;
    const double t0 = wall_seconds();
    linalg::cholesky(n, c.data(), n);
    best = std::min(best, wall_seconds() - t0);
  }
  p.cholesky_gflops = n * static_cast<double>(n) * n / 3.0 / best * 1e-9;
  return p;
}

void print_environment() {
  for (const char* v : {"OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"}) {
    const char* s = std::getenv(v);
    std::printf("  %s=%s\n", v, s ? s : "(unset)");
  }
}

}  // namespace attnpaths::bench
