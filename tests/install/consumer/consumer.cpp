// Uses the installed headers and library: the version header, a pure function of core/comm and
// the LAPACK-backed Cholesky log-determinant, checked against a value computed by hand.
#include <attnpaths/core/comm.hpp>
#include <attnpaths/core/linalg.hpp>
#include <attnpaths_version.hpp>

#include <cmath>
#include <cstdio>

int main() {
  // [[4, 2], [2, 3]]: det = 8, so log det = log 8.
  double a[4] = {4.0, 2.0, 2.0, 3.0};
  if (!attnpaths::linalg::cholesky(2, a, 2)) return 1;
  const double logdet = attnpaths::linalg::cholesky_logdet(2, a, 2);
  const attnpaths::Range r = attnpaths::block_range(10, 1, 3);  // blocks of 4: [4, 8)
  const bool ok = std::abs(logdet - std::log(8.0)) < 1e-12 && r.begin == 4 && r.end == 8;
  std::printf("attnpaths %s: logdet %.15g, range [%lld, %lld) %s\n", ATTNPATHS_VERSION, logdet,
              static_cast<long long>(r.begin), static_cast<long long>(r.end), ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
