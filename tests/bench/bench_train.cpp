// Benchmark of `attnpaths train`'s step (docs/training.md): training episodes per second of the
// path-factorised GD network (the default 2,589,184-parameter network, batch 128, synthetic episodes)
// on 1 rank and on every rank of the launch, against the same network trained in PyTorch on CPU as a
// plain per-token nn.Module (tests/bench/bench_train_torch.py, run with /usr/bin/python3 at 1 thread
// and at as many threads as ranks), same precision; prints the ratios. Without torch the ratio is skipped.
//   build/bench/bench_train [--precision float32|float64] [--seconds 20] [--no-torch]
//   mpirun -n 2 build/bench/bench_train          (1 rank, then 2 ranks; torch at 1 and 2 threads)
#include <cstdio>
#include <cstring>
#include <string>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/runtime.hpp"
#include "attnpaths/train/trainer.hpp"
#include "guarded.hpp"

using namespace attnpaths;

namespace {

// Episodes per second of Trainer::step on `comm` (at least `seconds` and 3 steps after one warm-up step).
template <class Real>
double episodes_per_second(const Comm& comm, double seconds) {
  GdShape shape;
  const int batch = 128;
  Trainer<Real> trainer(shape, AdamOptions{}, batch, 16, comm);
  TrainState st;
  st.theta = initial_weights(shape, 1);
  st.adam_m.assign(st.theta.size(), 0.0);
  st.adam_v.assign(st.theta.size(), 0.0);
  trainer.set_state(st);
  const SyntheticStream stream(shape.tokens, shape.input_dim, 1);
  trainer.step(stream);
  comm.barrier();
  const double t0 = wall_seconds();
  long steps = 0;
  double dt = 0;
  do {
    trainer.step(stream);
    ++steps;
    dt = comm.max(wall_seconds() - t0);
  } while (dt < seconds || steps < 3);
  return double(steps * batch) / dt;
}

// Runs the torch reference; returns its episodes/s (0 if torch is unavailable).
double torch_rate(const std::string& precision, int threads, double seconds) {
  const std::string script = std::string(ATTNPATHS_SOURCE_DIR) + "/tests/bench/bench_train_torch.py";
  const std::string cmd = "OMP_NUM_THREADS=" + std::to_string(threads) + " /usr/bin/python3 " + script +
                          " --threads " + std::to_string(threads) + " --precision " + precision + " --seconds " +
                          std::to_string(seconds) + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return 0;
  char buf[4096];
  std::string out;
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  pclose(pipe);
  std::printf("  %s", out.c_str());
  const auto pos = out.find(": ");
  if (out.find("episodes/s") == std::string::npos || pos == std::string::npos) {
    std::printf("  (torch unavailable: `import torch` failed for /usr/bin/python3; ratio skipped)\n");
    return 0;
  }
  return std::stod(out.substr(pos + 2));
}

}  // namespace

namespace {
const char* const usage = "bench_train [--precision float32|float64] [--seconds 20] [--no-torch]";

int run(Runtime& runtime, int argc, char** argv) {
  const Comm& world = runtime.world();
  std::string precision = "float32";
  double seconds = 20;
  bool torch = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--precision") && i + 1 < argc)
      precision = argv[++i];
    else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = std::stod(argv[++i]);
    else if (!std::strcmp(argv[i], "--no-torch"))
      torch = false;
    else
      throw UsageError(std::string("bench_train: unknown option or missing value '") + argv[i] + "'; usage: " + usage);
  }
  if (precision != "float32" && precision != "float64")
    throw UsageError("bench_train: --precision is float32 or float64, not '" + precision + "'");
  const bool f32 = precision == "float32";
  double one = 0;
  if (world.is_root()) {
    const Comm self = Comm::view(MPI_COMM_SELF);
    one = f32 ? episodes_per_second<float>(self, seconds) : episodes_per_second<double>(self, seconds);
    std::printf("attnpaths %s, 1 rank: %.2f episodes/s\n", precision.c_str(), one);
  }
  world.barrier();
  double all = 0;
  if (world.size() > 1) {
    all = f32 ? episodes_per_second<float>(world, seconds) : episodes_per_second<double>(world, seconds);
    if (world.is_root()) std::printf("attnpaths %s, %d ranks: %.2f episodes/s\n", precision.c_str(), world.size(), all);
  }
  if (world.is_root() && torch) {
    const double t1 = torch_rate(precision, 1, seconds);
    if (t1 > 0) std::printf("ratio attnpaths/torch at 1 rank / 1 thread: %.1f×\n", one / t1);
    if (world.size() > 1) {
      const double tk = torch_rate(precision, world.size(), seconds);
      if (tk > 0) std::printf("ratio attnpaths/torch at %d ranks / %d threads: %.1f×\n", world.size(), world.size(), all / tk);
    }
  }
  world.barrier();
  return 0;
}
}  // namespace

int main(int argc, char** argv) { return bench::run_guarded(argc, argv, usage, run); }
