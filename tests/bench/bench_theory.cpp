// Benchmark of the theory (issue: foundation). Prints, for one action + gradient evaluation at
// P = 10², 10³, 10⁴, 10⁵ (Markov shape: N0 = 231, H_tot = 4, r = 924) in the primal and dual kernel
// forms where they fit, the time and the achieved GFLOP/s of the dominant kernels as a fraction of
// the machine's measured DGEMM and Cholesky peaks; then the whole default 4-path sweep (data +
// theory through the real command) against the reference's ~60 s.
//   OPENBLAS_NUM_THREADS=2 build/bench/bench_theory [--sizes 100,1000,10000,100000] [--no-sweep]
//   mpirun -n 2 -x OPENBLAS_NUM_THREADS=1 build/bench/bench_theory --sizes 1000,10000 --no-sweep
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

#include "attnpaths/core/log.hpp"
#include "attnpaths/core/runtime.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"
#include "attnpaths/theory/action.hpp"
#include "peaks.hpp"
#include "synthetic.hpp"

using namespace attnpaths;

namespace {

struct Timing {
  double factor = 0, gradient = 0;
};

Timing time_evaluation(RenormalizedKernel& kernel, const Eigen::MatrixXd& U, int repeats) {
  Timing best{1e300, 1e300};
  for (int r = 0; r < repeats; ++r) {
    const double t0 = wall_seconds();
    kernel.factor(U, 0.01);
    const double t1 = wall_seconds();
    kernel.energy_gradient();
    const double t2 = wall_seconds();
    best.factor = std::min(best.factor, t1 - t0);
    best.gradient = std::min(best.gradient, t2 - t1);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  Runtime runtime(argc, argv);
  const Comm& world = runtime.world();
  std::vector<long> sizes{100, 1000, 10000, 100000};
  bool sweep = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no-sweep") sweep = false;
    if (a == "--sizes" && i + 1 < argc) {
      sizes.clear();
      std::string s = argv[++i];
      for (std::size_t p = 0; p < s.size();) {
        const std::size_t q = s.find(',', p);
        sizes.push_back(std::stol(s.substr(p, q - p)));
        p = q == std::string::npos ? s.size() : q + 1;
      }
    }
  }
  const bool root = world.is_root();
  bench::Peaks peaks;
  if (root) {
    std::printf("attnpaths theory benchmark, %d MPI rank(s)\n", world.size());
    bench::print_environment();
    peaks = bench::measure_peaks();
    std::printf("machine peaks (rank 0, n = %d): DGEMM %.1f GFLOP/s, Cholesky %.1f GFLOP/s\n\n", peaks.n,
                peaks.dgemm_gflops, peaks.cholesky_gflops);
  }
  world.bcast(&peaks.dgemm_gflops, 1);
  world.bcast(&peaks.cholesky_gflops, 1);

  const int H = 4, N0 = 231;
  const double r = static_cast<double>(H) * N0;
  const Eigen::MatrixXd U = test::random_spd(H, 3);
  if (root)
    std::printf("%-7s %-6s %10s %10s %10s | %-30s | %-30s\n", "P", "form", "setup s", "factor ms", "grad ms",
                "factor GFLOP/s (/DGEMM, /Chol)", "gradient GFLOP/s (/DGEMM)");
  for (long P : sizes) {
    const PathInputs train = test::synthetic_path_inputs(P, H, N0, world, 5);
    for (KernelForm form : {KernelForm::primal, KernelForm::dual}) {
      const double p = static_cast<double>(P);
      // Fits: the primal form keeps Ξ (P·r) and K (P²) on every rank; cap at ~2 GB/rank.
      if (form == KernelForm::primal && (2 * p * r + p * p) * 8 > 2e9) {
        if (root) std::printf("%-7ld %-6s %10s   (does not fit: 2P·r + P² doubles > 2 GB per rank)\n", P, "primal", "-");
        continue;
      }
      const double t0 = wall_seconds();
      auto kernel = make_renormalized_kernel(form, train, 1.0, world);
      const double setup = wall_seconds() - t0;
      const int repeats = P <= 1000 ? 20 : (P <= 10000 ? 2 : 1);
      const Timing t = time_evaluation(*kernel, U, repeats);
      // Flop models of the dominant kernels (see kernels/primal.hpp, kernels/dual.hpp).
      double f_factor, f_grad, f_chol;
      if (form == KernelForm::primal) {
        f_chol = p * p * p / 3;
        f_factor = p * p * r + f_chol;  // K = ZZ^T (SYRK), Cholesky
        f_grad = p * p * r;             // W = R^{-1}Ξ (triangular solve), block traces
      } else {
        f_chol = r * r * r / 3;
        f_factor = 4 * r * r * H + f_chol;       // Λ = L'^T B L', Cholesky of r×r
        f_grad = r * r * r + 2 * r * r * H;      // Z = L_A^{-1} B'^T, block traces
      }
      const double g_factor = f_factor / t.factor * 1e-9, g_grad = f_grad / t.gradient * 1e-9;
      if (root)
        std::printf("%-7ld %-6s %10.3f %10.3f %10.3f | %7.1f (%4.0f%%, %4.0f%%)           | %7.1f (%4.0f%%)\n", P,
                    to_string(form).c_str(), setup, 1e3 * t.factor, 1e3 * t.gradient, g_factor,
                    100 * g_factor / peaks.dgemm_gflops, 100 * g_factor / peaks.cholesky_gflops, g_grad,
                    100 * g_grad / peaks.dgemm_gflops);
    }
  }

  if (sweep && root && world.size() == 1) {
    const std::string bin = ATTNPATHS_BINARY;
    const std::string dir = "/tmp/attnpaths-bench-" + std::to_string(::getpid());
    if (std::system(("mkdir -p " + dir).c_str()) != 0) return 1;
    const double t0 = wall_seconds();
    int rc = std::system((bin + " data markov --heads 4paths -o " + dir + "/markov4.h5 > " + dir + "/data.log 2>&1").c_str());
    const double t1 = wall_seconds();
    rc |= std::system((bin + " theory --data " + dir + "/markov4.h5 --widths 10,30,50,100,300,500,1000 --temperatures 0.01 -o " +
                       dir + "/theory.h5 > " + dir + "/theory.log 2>&1").c_str());
    const double t2 = wall_seconds();
    std::printf("\ndefault 4-path sweep (7 widths, Temp 0.01) through the command: data %.2f s, theory %.2f s (exit %d)\n",
                t1 - t0, t2 - t1, rc);
    std::printf("  the reference (Python, same sweep) takes ~60 s on this machine: %.0fx faster (theory command)\n",
                60.0 / (t2 - t1));
    std::printf("  logs and results in %s\n", dir.c_str());
  }
  return 0;
}
