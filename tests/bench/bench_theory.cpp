// Benchmark of the theory (issue: foundation). Prints, for one action + gradient evaluation at
// P = 10², 10³, 10⁴, 10⁵ (Markov shape: N0 = 231, H_tot = 4, r = 924) in the primal, path-pair and
// dual kernel forms where they fit, the time and the achieved GFLOP/s of the dominant kernels as a
// fraction of the machine's measured DGEMM and Cholesky peaks, and the time of one energy Hessian (a
// Newton step's); then the whole default 4-path sweep (data +
// theory through the real command, best of --repeats) stage by stage against each stage's floor,
// and against the authors' 31.9 s.
//   OPENBLAS_NUM_THREADS=2 build/bench/bench_theory [--sizes 100,1000,10000,100000] [--no-sweep] [--repeats 5]
//   ATTNPATHS_BENCH_BINARY=/path/to/other/attnpaths build/bench/bench_theory ...   (the sweep with another build)
//   mpirun -n 2 -x OPENBLAS_NUM_THREADS=1 build/bench/bench_theory --sizes 1000,10000 --no-sweep
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/runtime.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"
#include "attnpaths/theory/action.hpp"
#include "guarded.hpp"
#include "peaks.hpp"
#include "synthetic.hpp"

using namespace attnpaths;

namespace {

struct Timing {
  double factor = 0, gradient = 0, gram = 0;
};

// Best of `repeats`: factor(), energy_gradient(), and (with_gram) the energy's Hessian of a Newton step
// (Action::energy_hessian: the kernel's path Gram, then its closed form).
Timing time_evaluation(RenormalizedKernel& kernel, const Eigen::MatrixXd& U, int repeats, bool with_gram) {
  Timing best{1e300, 1e300, with_gram ? 1e300 : 0.0};
  Architecture arch;
  arch.heads = {2, 2};
  arch.widths = {100, 100, 100};
  arch.variances = {1, 1, 1, 1};
  Action action(arch, kernel, 0.01);
  for (int r = 0; r < repeats; ++r) {
    // A factor() at the last successful U_1 and Temp does no work: every repeat gets its own Temp.
    const double t0 = wall_seconds();
    kernel.factor(U, 0.01 * (1 + 1e-6 * r));
    const double t1 = wall_seconds();
    kernel.energy_gradient();
    const double t2 = wall_seconds();
    if (with_gram) action.energy_hessian();
    best.factor = std::min(best.factor, t1 - t0);
    best.gradient = std::min(best.gradient, t2 - t1);
    if (with_gram) best.gram = std::min(best.gram, wall_seconds() - t2);
  }
  return best;
}

double process_seconds(const std::string& command) {
  const double t0 = wall_seconds();
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
  return wall_seconds() - t0;
}

// Memory bandwidth of a 64 MB copy, GB/s (the load stage's floor: a dataset in the page cache).
double copy_bandwidth() {
  std::vector<double> a(8u << 20, 1.0), b(8u << 20);
  double best = 1e300;
  for (int r = 0; r < 5; ++r) {
    const double t0 = wall_seconds();
    std::copy(a.begin(), a.end(), b.begin());
    best = std::min(best, wall_seconds() - t0);
  }
  return 8.0 * static_cast<double>(a.size()) / best * 1e-9 + 0.0 * b[1];
}

struct SweepRun {
  double wall = 1e300;
  std::vector<std::string> stage;
  std::vector<double> seconds, cpu;
  std::int64_t evaluations = 0, newton_steps = 0;
  std::string form;                        // /data kernel_form
  double in_run = 0, mpi_start = 0;        // /provenance wall_seconds, mpi_start_seconds
};

SweepRun read_run(const std::string& path, double wall) {
  const Comm self = Comm::view(MPI_COMM_SELF);
  h5::File f(path, self, h5::File::Mode::read);
  SweepRun r;
  r.wall = wall;
  const auto t = f.group("provenance/timing");
  r.stage = t.attr_strings("stage");
  r.seconds = t.attr_doubles("seconds");
  r.cpu = t.attr_doubles("cpu_seconds");
  for (std::int64_t e : f.dataset("theory/evaluations").read_all<std::int64_t>()) r.evaluations += e;
  for (std::int64_t e : f.dataset("theory/newton_steps").read_all<std::int64_t>()) r.newton_steps += e;
  r.form = f.group("data").attr_string("kernel_form");
  r.in_run = f.group("provenance").attr_double("wall_seconds");
  r.mpi_start = f.group("provenance").attr_double("mpi_start_seconds");
  return r;
}

// The minimiser's flops in the sweep's kernel form (kernels/*.hpp): every evaluation, and one energy
// Hessian per Newton step (descent or polish) at P = 100, H_tot = 4, r = 924.
double minimise_flops(const SweepRun& run, double P, double r) {
  const double H = 4, pairs = H * (H + 1) / 2;
  double evaluation = 2 * P * P * r + P * P * P / 3, hessian = P * P * r + r * r * P + r * r * H * H;
  if (run.form == "path-pairs") {
    evaluation = 2 * P * P * P / 3 + H * H * P * P / 2;
    hessian = pairs * 2 * P * P * P + 2 * pairs * pairs * P * P;
  }
  return static_cast<double>(run.evaluations) * evaluation + static_cast<double>(run.newton_steps) * hessian;
}

// The whole default 4-path sweep through the command as scripts/main.sh runs it (one process, 7 widths,
// Temp 0.01), best of `repeats` whole-process wall times, each stage against its floor; the authors'
// code takes 31.9 s on this machine (one process per width, whole-process wall time).
void default_sweep(const bench::Peaks& peaks, int repeats) {
  const char* other = std::getenv("ATTNPATHS_BENCH_BINARY");  // another build's binary (before/after comparisons)
  const std::string bin = other && *other ? other : ATTNPATHS_BINARY;
  const std::string dir = "/tmp/attnpaths-bench-" + std::to_string(::getpid());
  process_seconds("mkdir -p " + dir);
  const double data = process_seconds(bin + " data markov --heads 4paths -o " + dir + "/markov4.h5 > " + dir + "/data.log 2>&1");
  double bare = 1e300;
  for (int k = 0; k < repeats; ++k) bare = std::min(bare, process_seconds(bin + " --version > /dev/null"));
  SweepRun best;
  for (int r = 0; r < repeats; ++r) {
    const double w = process_seconds(bin + " theory --data " + dir + "/markov4.h5 --widths 10,30,50,100,300,500,1000 "
                                     "--temperatures 0.01 --overwrite -o " + dir + "/theory.h5 > " + dir + "/theory.log 2>&1");
    if (w < best.wall) best = read_run(dir + "/theory.h5", w);
  }
  // Floors: the model's flops at the DGEMM peak; the dataset at memory bandwidth (Markov shape:
  // 1100 sequences, T = 31, N0 = 231, 4 paths, 7.8 MFLOP of attention each; docs/benchmarks.md).
  const double gflops = peaks.dgemm_gflops, bytes = 1100.0 * 31 * 231 * 8, P = 100, r = 924;
  auto floor_of = [&](const std::string& s) -> double {
    if (s == "load") return bytes / (copy_bandwidth() * 1e9);
    if (s == "path inputs") return 1100 * 7.8e6 / (gflops * 1e9);
    if (s == "minimise") return minimise_flops(best, P, r) / (gflops * 1e9);
    // 3 predictors × 7 widths on the 1000 test examples: k* = ξ*(U_1⊗I)Ξ^T (2QPr), or in the path-pair
    // form k* from the prepared train–test pair kernels (H_tot(H_tot+1)QP) and |R^{-1}k*|² (P²Q);
    // the path-pair form's kernel setup forms those (2H_tot²QPN0) and the training pairs (H_tot²P²N0).
    const double Q = 1000, H = 4, N0 = r / H;
    if (s == "predict")
      return 3 * 7 * Q * (best.form == "path-pairs" ? H * (H + 1) * P + P * P : 2 * P * r) / (gflops * 1e9);
    if (s == "kernel setup" && best.form == "path-pairs") return H * H * (2 * Q + P) * P * N0 / (gflops * 1e9);
    return 0;
  };
  double staged = 0;
  std::printf("\ndefault 4-path sweep (7 widths, Temp 0.01) through the command, best of %d: data %.2f s, theory %.2f s\n",
              repeats, data, best.wall);
  std::printf("  %-16s %8s %8s %8s\n", "stage", "wall s", "cpu s", "floor s");
  for (std::size_t i = 0; i < best.stage.size(); ++i) {
    staged += best.seconds[i];
    std::printf("  %-16s %8.3f %8.3f %8.3f\n", best.stage[i].c_str(), best.seconds[i], best.cpu[i], floor_of(best.stage[i]));
  }
  // The rest of the process: the run's own time outside the stages, MPI's and PETSc's start, and the
  // process around them (the dynamic loader, option parsing, the finalisation, the exit).
  std::printf("  %-16s %8.3f\n", "outside stages", best.in_run - staged);
  std::printf("  %-16s %8.3f\n", "MPI, PETSc start", best.mpi_start);
  std::printf("  %-16s %8.3f %8s %8.3f  (floor: `attnpaths --version`, the loader and exit of a process without MPI)\n",
              "process, exit", best.wall - best.in_run - best.mpi_start, "", bare);
  std::printf("  kernel form %s, %ld Newton steps (minimise's floor: their flops and the evaluations' at the DGEMM peak)\n",
              best.form.c_str(), static_cast<long>(best.newton_steps));
  std::printf("  %ld action evaluations; the authors' code takes 31.9 s for this sweep here: %.1fx faster\n",
              static_cast<long>(best.evaluations), 31.9 / best.wall);
  std::printf("  logs and results in %s\n", dir.c_str());
}

}  // namespace

namespace {
const char* const usage = "bench_theory [--sizes 100,1000,10000,100000] [--no-sweep] [--repeats 5]";

int run(Runtime& runtime, int argc, char** argv) {
  const Comm& world = runtime.world();
  std::vector<long> sizes{100, 1000, 10000, 100000};
  bool sweep = true;
  int repeats = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no-sweep") {
      sweep = false;
    } else if (a == "--repeats" && i + 1 < argc) {
      repeats = std::stoi(argv[++i]);
    } else if (a == "--sizes" && i + 1 < argc) {
      sizes.clear();
      std::string s = argv[++i];
      for (std::size_t p = 0; p < s.size();) {
        const std::size_t q = s.find(',', p);
        sizes.push_back(std::stol(s.substr(p, q - p)));
        p = q == std::string::npos ? s.size() : q + 1;
      }
    } else {
      throw UsageError("bench_theory: unknown option or missing value '" + a + "'; usage: " + usage);
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
    std::printf("%-7s %-10s %9s %9s %9s %9s | %-30s | %-26s\n", "P", "form", "setup s", "factor ms", "grad ms",
                "Hess. ms", "factor GFLOP/s (/DGEMM, /Chol)", "gradient GFLOP/s (/DGEMM)");
  for (long P : sizes) {
    const PathInputs train = test::synthetic_path_inputs(P, H, N0, world, 5);
    for (KernelForm form : {KernelForm::primal, KernelForm::path_pairs, KernelForm::dual}) {
      const double p = static_cast<double>(P), pairs = H * (H + 1) / 2.0;
      // Fits: the primal form keeps Ξ (P·r) and K (P²) on every rank; cap at ~2 GB/rank. The path-pair
      // form: where `auto` would pick it (kernels/renormalized_kernel.hpp).
      if (form == KernelForm::primal && (2 * p * r + p * p) * 8 > 2e9) {
        if (root) std::printf("%-7ld %-10s   (does not fit: 2P·r + P² doubles > 2 GB per rank)\n", P, "primal");
        continue;
      }
      if (form == KernelForm::path_pairs && path_pair_bytes(P, H) > automatic_path_pair_bytes) {
        if (root) std::printf("%-7ld %-10s   (kernels above the automatic choice's bound)\n", P, "path-pairs");
        continue;
      }
      const double t0 = wall_seconds();
      auto kernel = make_renormalized_kernel(form, train, 1.0, world);
      const double setup = wall_seconds() - t0;
      const int evaluations = P <= 1000 ? 20 : (P <= 10000 ? 2 : 1);
      const Timing t = time_evaluation(*kernel, U, evaluations, P <= 10000);
      // Flop models of the dominant kernels (see kernels/primal.hpp, path_pairs.hpp, dual.hpp).
      double f_factor, f_grad, f_chol;
      if (form == KernelForm::primal) {
        f_chol = p * p * p / 3;
        f_factor = p * p * r + f_chol;  // K = ZZ^T (SYRK), Cholesky
        f_grad = p * p * r;             // W = R^{-1}Ξ (triangular solve), block traces
      } else if (form == KernelForm::path_pairs) {
        f_chol = p * p * p / 3;
        f_factor = pairs * p * (p + 1) + f_chol;  // K from the packed pairs (GEMV), Cholesky
        f_grad = p * p * p / 3 + pairs * p * (p + 1);  // K_T^{-1} (lower triangle), GEMV
      } else {
        f_chol = r * r * r / 3;
        f_factor = 4 * r * r * H + f_chol;       // Λ = L'^T B L', Cholesky of r×r
        f_grad = r * r * r + 2 * r * r * H;      // Z = L_A^{-1} B'^T, block traces
      }
      const double g_factor = f_factor / t.factor * 1e-9, g_grad = f_grad / t.gradient * 1e-9;
      if (root)
        std::printf("%-7ld %-10s %9.3f %9.3f %9.3f %9.3f | %7.1f (%4.0f%%, %4.0f%%)           | %7.1f (%4.0f%%)\n", P,
                    to_string(form).c_str(), setup, 1e3 * t.factor, 1e3 * t.gradient, 1e3 * t.gram, g_factor,
                    100 * g_factor / peaks.dgemm_gflops, 100 * g_factor / peaks.cholesky_gflops, g_grad,
                    100 * g_grad / peaks.dgemm_gflops);
    }
  }

  if (sweep && root && world.size() == 1) default_sweep(peaks, repeats);
  return 0;
}
}  // namespace

int main(int argc, char** argv) { return bench::run_guarded(argc, argv, usage, run); }
