// Benchmark of the sampler on the Markov 4-path posterior (docs/model.md §5.1; P = 100, Temp = 0.01) at
// N = 10, 100, 1000: log-posterior gradient evaluations per second of the path-factorised joint
// gradient (docs/model.md §4: O(P·H_tot·N0) + O(H_tot·w·N0 + Σ_l H^{L-l+1} w²)) against the naive
// forward/backward pass through the network of docs/model.md §1 (O(P·T·H·w²), the reference
// formulation), the ratio; and ESS/s (min bulk ESS over the U_1 entries per second of sampling) of
// one NUTS chain per rank for the sampler targets that fit the time budget, per metric (diag, dense), per
// wall second and per CPU second of the process (the latter is robust to other jobs on the machine).
//   build/bench/bench_sampler [--widths 10,100,1000] [--draws 300] [--warmup W] [--chains C] [--no-ess]
//                             [--no-gradient] [--targets joint,v0-marginal,path-weights] [--metrics diag,dense]
//                             [--target-accept 0.8] [--temperature 0.01] [--data FILE] [--all-cases]
// --chains C runs C chains per rank one after the other (chain index rank·C + k); the ESS and the
// rank-normalised split-R̂ are of all chains pooled. --data FILE replaces the generated Markov data by a
// dataset file (then only the per-target CPU cost and ESS sections run, at the file's heads).
//   mpirun -n 2 build/bench/bench_sampler            (2 example shards for the gradient; one chain per rank)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/runtime.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/data/markov.hpp"
#include "attnpaths/model/attention.hpp"
#include "attnpaths/model/network.hpp"
#include "attnpaths/model/path_inputs.hpp"
#include "attnpaths/sampler/chain.hpp"
#include "attnpaths/sampler/diagnostics.hpp"
#include "attnpaths/sampler/posterior.hpp"
#include "guarded.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

using attnpaths::sz;

// The dataset's network at width N in every layer, unit prior variances.
Architecture network_shape(const Dataset& ds, int N) {
  const std::vector<int> heads = ds.attention.heads();
  return Architecture::network(ds.token_dim, heads, std::vector<int>(heads.size() + 1, N),
                               std::vector<double>(heads.size() + 2, 1.0));
}

// Times `f` until at least `min_seconds` have passed (and at least once); returns calls per second.
std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t p = 0; p < s.size();) {
    const std::size_t q = std::min(s.find(',', p), s.size());
    out.push_back(s.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

double cpu_seconds() { return double(std::clock()) / CLOCKS_PER_SEC; }

template <class F>
double rate(const Comm& comm, F f, double min_seconds) {
  comm.barrier();
  const double t0 = wall_seconds();
  long calls = 0;
  double dt = 0;
  do {
    f();
    ++calls;
    dt = comm.max(wall_seconds() - t0);
  } while (dt < min_seconds);
  return double(calls) / dt;
}


struct EssCase {
  int N;
  std::string target, metric;
  std::int64_t warmup, draws;
  int chains;  // per rank
  double target_accept;
};

std::unique_ptr<LogDensity> make_density(const std::string& target, const Architecture& shape, double Temp,
                                         const PathInputs& all, const ExampleBlocks& blocks, const Comm& self) {
  if (target == "joint")
    return std::make_unique<JointPosterior>(shape, Temp, redistribute_rows(all, blocks.local(), self), blocks);
  const auto coords = target == "path-weights" ? MarginalPosterior::Coordinates::path_weights
                                                : MarginalPosterior::Coordinates::weights;
  return std::make_unique<MarginalPosterior>(shape, Temp, all, coords);
}

// Per-phase cost of the chains of one rank.
struct PhaseCost {
  double cpu[2] = {0, 0}, grads[2] = {0, 0}, depth[2] = {0, 0}, iterations[2] = {0, 0};
  double divergent = 0;
};

// One chain: warm-up then draws; U_1 of every draw appended to trace[entry]; costs per phase (0 warm-up, 1 draws).
void run_chain(LogDensity& density, const ChainOptions& opt, int chain_index, int H, int N0,
               std::vector<std::vector<double>>& trace, PhaseCost& cost) {
  Chain chain(density, opt, 11, chain_index);
  std::vector<double> U(sz(H * H)), u(sz(H * N0));
  auto* joint = dynamic_cast<JointPosterior*>(&density);
  auto* marginal = dynamic_cast<MarginalPosterior*>(&density);
  double c0 = cpu_seconds(), g0 = double(chain.gradient_evaluations());
  chain.initialise();
  while (!chain.done()) {
    const int phase = chain.warming_up() ? 0 : 1;
    const NutsStats s = chain.iterate();
    cost.depth[phase] += s.tree_depth;
    cost.iterations[phase] += 1;
    if (phase == 0) {
      if (!chain.warming_up()) {  // the last warm-up iteration: close the warm-up's bill
        cost.cpu[0] += cpu_seconds() - c0;
        cost.grads[0] += double(chain.gradient_evaluations()) - g0;
        c0 = cpu_seconds();
        g0 = double(chain.gradient_evaluations());
      }
      continue;
    }
    cost.divergent += s.divergent ? 1 : 0;
    if (joint)
      joint->observe(chain.position().data(), U.data(), u.data());
    else
      marginal->observe(chain.position().data(), chain.rng(), U.data(), u.data());
    for (int e = 0; e < H * H; ++e) trace[sz(e)].push_back(U[sz(e)]);
  }
  cost.cpu[1] += cpu_seconds() - c0;
  cost.grads[1] += double(chain.gradient_evaluations()) - g0;
}

// `c.chains` chains on every rank (chain index rank·chains + k, seed 11); the draws of all ranks pooled for
// the min bulk ESS and max R-hat over the U_1 entries; ESS per CPU second of the whole run (warm-up included).
void run_ess_case(const Comm& world, Log& log, const EssCase& c, const Dataset& ds, double Temp, const PathInputs& all) {
  Comm self = world.split(world.rank(), 0);
  const Architecture shape = network_shape(ds, c.N);
  const int N0 = ds.token_dim, H = shape.paths();
  ExampleBlocks b1(ds.train.count, 16, self);
  std::unique_ptr<LogDensity> density = make_density(c.target, shape, Temp, all, b1, self);
  if (c.metric == "dense" && density->dimension() > Chain::max_dense_dimension) return;
  ChainOptions opt;
  opt.warmup = c.warmup;
  opt.draws = c.draws;
  opt.target_accept = c.target_accept;
  opt.dense_metric = c.metric == "dense";
  std::vector<std::vector<std::vector<double>>> traces(sz(c.chains), std::vector<std::vector<double>>(sz(H * H)));
  PhaseCost cost;
  const double t0 = wall_seconds();
  for (int k = 0; k < c.chains; ++k) run_chain(*density, opt, world.rank() * c.chains + k, H, N0, traces[sz(k)], cost);
  const double seconds = world.max(wall_seconds() - t0);
  const int total_chains = c.chains * world.size();
  double min_ess = 1e300, rhat = 0;
  for (int e = 0; e < H * H; ++e) {
    std::vector<double> mine;
    for (int k = 0; k < c.chains; ++k) mine.insert(mine.end(), traces[sz(k)][sz(e)].begin(), traces[sz(k)][sz(e)].end());
    const auto pooled = world.allgather_blocks(mine);
    diagnostics::Draws d(sz(total_chains));
    for (int k = 0; k < total_chains; ++k)
      d[sz(k)].assign(pooled.begin() + k * c.draws, pooled.begin() + (k + 1) * c.draws);
    const double v = diagnostics::ess_bulk(d);
    if (std::isfinite(v)) min_ess = std::min(min_ess, v);
    rhat = std::max(rhat, diagnostics::rhat(d));
  }
  const double cpu = world.sum(cost.cpu[0] + cost.cpu[1]), grads = world.sum(cost.grads[0] + cost.grads[1]);
  const double gw = world.sum(cost.grads[0]), div = world.sum(cost.divergent);
  const double dw = world.sum(cost.depth[0]) / world.sum(cost.iterations[0]),
               depth_draws = world.sum(cost.depth[1]) / world.sum(cost.iterations[1]);
  log.info("  N {:>5} {:>13} {:>5}: {:>5} dims, {} chains, {:6.1f} s ({:6.1f} s CPU, {:4.0f}% of gradients in warm-up), {:6.1f} us CPU/grad, "
           "depth {:4.1f} warm-up {:4.1f} draws, {:3.0f} divergent, min ESS {:5.0f}, max R-hat {:.3f}, "
           "ESS/s {:8.3g} ({:8.3g} per CPU s)",
           c.N, c.target, c.metric, density->dimension(), total_chains, seconds, cpu, 100 * gw / grads, 1e6 * cpu / grads, dw,
           depth_draws, div, min_ess, rhat, min_ess / seconds, min_ess / cpu);
}

// CPU microseconds per log-density gradient of each target at its prior draw (1 rank's copy of the data).
void gradient_costs(const Comm& world, Log& log, const std::vector<int>& widths, const std::vector<std::string>& targets,
                    const Dataset& ds, double Temp, const PathInputs& all) {
  Comm self = world.split(world.rank(), 0);
  ExampleBlocks b1(ds.train.count, 16, self);
  for (int N : widths)
    for (const std::string& target : targets) {
      const Architecture shape = network_shape(ds, N);
      auto density = make_density(target, shape, Temp, all, b1, self);
      std::vector<double> theta(sz(density->dimension())), grad(theta.size());
      RandomStream rng(1, rng_domain::test, static_cast<std::uint64_t>(N));
      density->draw_initial(rng, theta.data());
      const double c0 = cpu_seconds();
      long calls = 0;
      do {
        density->evaluate(theta.data(), grad.data());
        ++calls;
      } while (cpu_seconds() - c0 < 1.0);
      log.info("  N {:>5} {:>13}: {:>7} coordinates, {:8.1f} us CPU per gradient", N, target, density->dimension(),
               1e6 * (cpu_seconds() - c0) / double(calls));
    }
}


struct BenchOptions {
  std::vector<int> widths{10, 100, 1000};
  std::int64_t draws = 300, warmup = -1;  // warm-up default: = draws
  bool ess = true, gradient = true, force = false;
  int chains = 1;
  double target_accept = 0.8, temperature = 0.01;
  std::string data;  // empty: the default Markov data, generated
  std::vector<std::string> targets{"joint", "v0-marginal", "path-weights"}, metrics{"diag", "dense"};
};

const char* const usage =
    "bench_sampler [--widths 10,100,1000] [--draws 300] [--warmup W] [--chains C] [--no-ess] [--no-gradient]\n"
    "                     [--targets joint,v0-marginal,path-weights] [--metrics diag,dense] [--target-accept 0.8]\n"
    "                     [--temperature 0.01] [--data FILE] [--all-cases]";

BenchOptions parse(const std::vector<std::string>& args) {
  BenchOptions o;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const bool more = i + 1 < args.size();
    if (args[i] == "--widths" && more) {
      o.widths.clear();
      for (const auto& w : split_list(args[++i])) o.widths.push_back(std::stoi(w));
    } else if (args[i] == "--targets" && more) {
      o.targets = split_list(args[++i]);
    } else if (args[i] == "--metrics" && more) {
      o.metrics = split_list(args[++i]);
    } else if (args[i] == "--draws" && more) {
      o.draws = std::stol(args[++i]);
    } else if (args[i] == "--chains" && more) {
      o.chains = std::stoi(args[++i]);
    } else if (args[i] == "--warmup" && more) {
      o.warmup = std::stol(args[++i]);
    } else if (args[i] == "--target-accept" && more) {
      o.target_accept = std::stod(args[++i]);
    } else if (args[i] == "--temperature" && more) {
      o.temperature = std::stod(args[++i]);
    } else if (args[i] == "--data" && more) {
      o.data = args[++i];
    } else if (args[i] == "--no-gradient") {
      o.gradient = false;
    } else if (args[i] == "--no-ess") {
      o.ess = false;
    } else if (args[i] == "--all-cases") {
      o.force = true;
    } else {
      throw UsageError("bench_sampler: unknown option or missing value '" + args[i] + "'; usage: " + usage);
    }
  }
  return o;
}

// Path-factorised joint gradient vs the naive forward/backward pass (the Markov data's 2 × 2 heads only).
void joint_vs_naive(const Comm& world, Log& log, const BenchOptions& o, const Dataset& ds, const PathInputs& train) {
  const int T = ds.tokens, N0 = ds.token_dim;
  const std::int64_t P = ds.train.count;
  std::vector<BlockAttention> attention(sz(train.local.size()));
  for (std::int64_t mu = 0; mu < train.local.size(); ++mu) {
    const double* x = ds.train.x.data() + sz(mu) * sz(T) * sz(N0);
    auto& a = attention[sz(mu)];
    a.full.assign(1, {});
    for (int h = 0; h < 2; ++h) {
      std::vector<double> om(sz(T * T)), w(sz(T));
      attention_matrix(ds.attention.layers[0], h, ds.attention.nonlinearity, x, T, N0, om.data());
      a.full[0].push_back(om);
      attention_matrix(ds.attention.layers[1], h, ds.attention.nonlinearity, x, T, N0, om.data());
      readout_vector(ds.attention.readout, om.data(), T, w.data());
      a.last.push_back(w);
    }
  }
  ExampleBlocks blocks(P, 16, world);
  const PathInputs local = redistribute_rows(train, blocks.local(), world);
  log.info("{:>6} {:>10} | {:>14} {:>14} {:>9} | target dims", "N", "weights", "path grad/s", "naive grad/s",
           "ratio");
  for (int N : o.widths) {
    const Architecture shape = network_shape(ds, N);
    JointPosterior post(shape, o.temperature, local, blocks);
    std::vector<double> theta(sz(shape.size())), grad(theta.size());
    RandomStream rng(1, rng_domain::test, static_cast<std::uint64_t>(N));
    for (std::int64_t i = 0; i < shape.size(); ++i) theta[sz(i)] = std::sqrt(shape.prior_variance(i)) * rng.normal();
    const double fast = rate(world, [&] { post.evaluate(theta.data(), grad.data()); }, 1.0);
    // Naive: every local example through §1 forward + reverse, gradients summed over the ranks.
    std::vector<double> g2(theta.size());
    const double slow = rate(
        world,
        [&] {
          std::fill(g2.begin(), g2.end(), 0.0);
          for (std::int64_t mu = 0; mu < train.local.size(); ++mu) {
            const double* x = ds.train.x.data() + sz(mu) * sz(T) * sz(N0);
            const double f = naive_forward(shape, theta.data(), attention[sz(mu)], x, T);
            naive_forward_backward(shape, theta.data(), attention[sz(mu)], x, T,
                                   (train.y[sz(mu)] - f) / o.temperature, g2.data());
          }
          world.sum(g2);
        },
        1.0);
    const PathWeightFactors factors(shape);
    log.info("{:>6} {:>10} | {:>14.4g} {:>14.4g} {:>8.1f}x | joint {}, v0-marginal {}, path-weights {}", N,
             shape.size(), fast, slow, fast / slow, shape.size(), shape.size() - shape.v0_size(), factors.size());
  }
}

}  // namespace

namespace {
int run(Runtime& runtime, int /*argc*/, char** /*argv*/) {
  const Comm& world = runtime.world();
  Log log(world);
  const BenchOptions o = parse(runtime.app_args());
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  const char* threads = std::getenv("OPENBLAS_NUM_THREADS");
  log.info("bench_sampler: {} rank(s), OPENBLAS_NUM_THREADS={}, OPENBLAS_CORETYPE={}", world.size(),
           threads ? threads : "(unset)", coretype ? coretype : "(unset)");

  // 1. The data (the default Markov task, generated, or --data FILE), sharded over the ranks; path inputs x̃.
  const Dataset ds = o.data.empty() ? generate_markov(MarkovOptions{}, world) : read_dataset(o.data, world);
  const std::int64_t P = ds.train.count;
  const PathInputs train = compute_path_inputs(ds.train, ds.attention, ds.tokens, ds.token_dim);
  const PathInputs all = redistribute_rows(train, {0, P}, world);

  // 2. Gradient evaluations per second: path-factorised vs naive; CPU time per gradient of each target.
  if (o.gradient && o.data.empty()) joint_vs_naive(world, log, o, ds, train);
  if (o.gradient) {
    log.info("CPU time per gradient of each sampler target (P = {}, Temp = {}):", P, o.temperature);
    gradient_costs(world, log, o.widths, o.targets, ds, o.temperature, all);
  }

  // 3. ESS per second: `chains` chains per rank (run one after the other), pooled over the ranks.
  if (!o.ess) return 0;
  log.info("ESS/s: {} chain(s) per rank × {} rank(s), {} warm-up + {} draws, target acceptance {}; min bulk ESS and "
           "max R-hat over the U_1 entries of the pooled chains",
           o.chains, world.size(), o.warmup < 0 ? o.draws : o.warmup, o.draws, o.target_accept);
  for (int N : o.widths)
    for (const std::string& target : o.targets)
      for (const std::string& metric : o.metrics) {
        if (target != "path-weights" && N > 100 && !o.force) continue;  // weight-space targets: O(N²) per step
        if (target == "joint" && N > 10 && !o.force) continue;          // stiff at Temp = 0.01: tree depth 10
        EssCase c{N, target, metric, o.warmup < 0 ? o.draws : o.warmup, o.draws, o.chains, o.target_accept};
        run_ess_case(world, log, c, ds, o.temperature, all);
      }
  return 0;
}
}  // namespace

int main(int argc, char** argv) { return bench::run_guarded(argc, argv, usage, run); }
