// Path-input benchmark (docs/benchmarks.md, "The default sweep"): the attention and the path inputs x̃
// (docs/model.md §1.3) of every example set of a dataset file, in process, best of --repeats, against
// the floor of their flops at the DGEMM peak measured in the same run. Two ways:
//   whole sets: compute_path_inputs on the sets read into memory (sample, prune, robustness);
//   streamed:   stream_inputs (read in blocks + path inputs, as theory does), its "load" and
//               "path inputs" stages separately.
// In-process minima are steadier than whole-process wall times on a shared machine.
//   build/bench/bench_path_inputs FILE [--repeats 20]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/runtime.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/model/path_inputs.hpp"
#include "attnpaths/theory/stream_inputs.hpp"
#include "bench/peaks.hpp"
#include "guarded.hpp"

using namespace attnpaths;

namespace {

// Flops of the attention and x̃ of one example, "w" style (docs/model.md §1.1–1.3): X·W and the T×T
// scores of every full layer's heads, the last layer's readout scores, x̃ = X^T a for every path.
double flops_per_example(const Dataset& d) {
  const double T = d.tokens, N0 = d.token_dim;
  const auto& att = d.attention;
  double f = 0;
  for (int l = 0; l + 1 < att.depth(); ++l) f += att.layers[static_cast<std::size_t>(l)].heads * (2 * T * N0 * N0 + 2 * T * T * N0);
  f += att.layers.back().heads * (2 * N0 * N0 + 2 * T * N0);
  return f + 2.0 * att.paths() * T * N0;
}

}  // namespace

namespace {
const char* const usage = "bench_path_inputs FILE [--repeats 20]";

int run(Runtime& runtime, int argc, char** argv) {
  apply_blas_thread_policy(runtime.world());
  const Comm& world = runtime.world();
  if (argc < 2 || argv[1][0] == '-') throw UsageError(std::string("bench_path_inputs: no FILE; usage: ") + usage);
  const std::string path = argv[1];
  int repeats = 20;
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) != "--repeats" || i + 1 >= argc)
      throw UsageError(std::string("bench_path_inputs: unknown option or missing value '") + argv[i] + "'; usage: " + usage);
    repeats = std::stoi(argv[++i]);
  }
  const bench::Peaks peaks = bench::measure_peaks(2000, 3);
  const Dataset d = read_dataset(path, world);
  std::vector<const ExampleSet*> sets = d.evaluation_sets();
  sets.push_back(&d.train);
  double examples = 0;
  for (const ExampleSet* s : sets) examples += static_cast<double>(s->count);
  double whole = 1e300, load = 1e300, inputs = 1e300, streamed = 1e300;
  std::vector<Buffer<double>> first;  // the first repeat's x̃: every repeat must equal it to the bit
  long differing = 0;
  for (int r = 0; r < repeats; ++r) {
    world.barrier();
    double t0 = wall_seconds();
    std::vector<PathInputs> x;
    for (const ExampleSet* s : sets) x.push_back(compute_path_inputs(*s, d.attention, d.tokens, d.token_dim));
    world.barrier();
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (r == 0) first.push_back(x[i].xt);
      for (std::size_t j = 0; j < x[i].xt.size(); ++j) differing += x[i].xt[j] != first[i][j];
    }
    whole = std::min(whole, wall_seconds() - t0);
    StageTimers timers;
    t0 = wall_seconds();
    (void)stream_inputs(path, KernelForm::automatic, 8.0, 0, world, timers);
    world.barrier();
    streamed = std::min(streamed, wall_seconds() - t0);
    load = std::min(load, timers.seconds("load"));
    inputs = std::min(inputs, timers.seconds("path inputs"));
  }
  const double gflop = examples * flops_per_example(d) * 1e-9 / world.size();
  if (world.is_root()) {
    std::printf("%s: %.0f examples, %.2f GFLOP per rank, %d rank(s), DGEMM peak %.1f GFLOP/s, best of %d\n",
                path.c_str(), examples, gflop, world.size(), peaks.dgemm_gflops, repeats);
    std::printf("  whole sets                 %8.4f s  %6.1f GFLOP/s\n", whole, gflop / whole);
    std::printf("  streamed: load + inputs    %8.4f s\n", streamed);
    std::printf("            load             %8.4f s\n", load);
    std::printf("            path inputs      %8.4f s  %6.1f GFLOP/s\n", inputs, gflop / inputs);
    std::printf("  floor (flops at the peak)  %8.4f s\n", gflop / peaks.dgemm_gflops);
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a of the bits: compare across processes and builds
    for (const auto& v : first)
      for (double e : v) {
        std::uint64_t b = 0;
        std::memcpy(&b, &e, sizeof b);
        h = (h ^ b) * 1099511628211ull;
      }
    std::printf("  x̃ entries differing from the first repeat: %ld; bits hash %016llx\n", differing,
                static_cast<unsigned long long>(h));
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) { return bench::run_guarded(argc, argv, usage, run); }
