// Benchmark of the sampler on the Markov 4-path posterior (docs/model.md §5.1; P = 100, Temp = 0.01) at
// N = 10, 100, 1000: log-posterior gradient evaluations per second of the path-factorised joint
// gradient (docs/model.md §4: O(P·H_tot·N0) + O(H_tot·w·N0 + Σ_l H^{L-l+1} w²)) against the naive
// forward/backward pass through the network of docs/model.md §1 (O(P·T·H·w²), the reference
// formulation), the ratio; and ESS/s (min bulk ESS over the U_1 entries per second of sampling) of
// one NUTS chain per rank for the sampler targets that fit the time budget, per metric (diag, dense), per
// wall second and per CPU second of the process (the latter is robust to other jobs on the machine).
//   build/bench/bench_sampler [--widths 10,100,1000] [--draws 300] [--no-ess] [--no-gradient]
//                             [--targets joint,v0-marginal,path-weights] [--metrics diag,dense]
//   mpirun -n 2 build/bench/bench_sampler            (2 example shards for the gradient; one chain per rank)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "attnpaths/core/index.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/runtime.hpp"
#include "attnpaths/data/markov.hpp"
#include "attnpaths/model/attention.hpp"
#include "attnpaths/model/network.hpp"
#include "attnpaths/model/path_inputs.hpp"
#include "attnpaths/sampler/chain.hpp"
#include "attnpaths/sampler/diagnostics.hpp"
#include "attnpaths/sampler/posterior.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

using attnpaths::sz;

Architecture markov_shape(int N0, int N) {
  return Architecture::network(N0, {2, 2}, {N, N, N}, {1, 1, 1, 1});
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

}  // namespace

int main(int argc, char** argv) {
  Runtime runtime(argc, argv);
  const Comm& world = runtime.world();
  Log log(world);
  std::vector<int> widths{10, 100, 1000};
  std::int64_t draws = 300;
  bool ess = true, gradient = true;
  std::vector<std::string> targets{"joint", "v0-marginal", "path-weights"}, metrics{"diag", "dense"};
  const auto& args = runtime.app_args();
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--widths" && i + 1 < args.size()) {
      widths.clear();
      for (const auto& w : split_list(args[++i])) widths.push_back(std::stoi(w));
    } else if (args[i] == "--targets" && i + 1 < args.size()) {
      targets = split_list(args[++i]);
    } else if (args[i] == "--metrics" && i + 1 < args.size()) {
      metrics = split_list(args[++i]);
    } else if (args[i] == "--no-gradient") {
      gradient = false;
    } else if (args[i] == "--draws" && i + 1 < args.size()) {
      draws = std::stol(args[++i]);
    } else if (args[i] == "--no-ess") {
      ess = false;
    }
  }
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  const char* threads = std::getenv("OPENBLAS_NUM_THREADS");
  log.info("bench_sampler: {} rank(s), OPENBLAS_NUM_THREADS={}, OPENBLAS_CORETYPE={}", world.size(),
           threads ? threads : "(unset)", coretype ? coretype : "(unset)");

  // 1. The 4-path Markov data, sharded over the ranks; path inputs x̃ and the attention of each example.
  MarkovOptions mo;
  const Dataset ds = generate_markov(mo, world);
  const int T = ds.tokens, N0 = ds.token_dim, H = ds.attention.paths();
  const std::int64_t P = ds.train.count;
  const PathInputs train = compute_path_inputs(ds.train, ds.attention, T, N0);
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
  const double Temp = 0.01;
  ExampleBlocks blocks(P, 16, world);
  const PathInputs local = redistribute_rows(train, blocks.local(), world);

  // 2. Gradient evaluations per second: path-factorised vs naive.
  log.info("{:>6} {:>10} | {:>14} {:>14} {:>9} | target dims", "N", "weights", "path grad/s", "naive grad/s",
           "ratio");
  for (int N : gradient ? widths : std::vector<int>{}) {
    const Architecture shape = markov_shape(N0, N);
    JointPosterior post(shape, Temp, local, blocks);
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
            naive_forward_backward(shape, theta.data(), attention[sz(mu)], x, T, (train.y[sz(mu)] - f) / Temp,
                                   g2.data());
          }
          world.sum(g2);
        },
        1.0);
    const PathWeightFactors factors(shape);
    log.info("{:>6} {:>10} | {:>14.4g} {:>14.4g} {:>8.1f}x | joint {}, v0-marginal {}, path-weights {}", N,
             shape.size(), fast, slow, fast / slow, shape.size(), shape.size() - shape.v0_size(), factors.size());
  }

  // 3. ESS per second of one chain per rank (U_1 entries, min bulk ESS of the split chain).
  if (ess) {
    log.info("ESS/s: one chain per rank, {} warm-up + {} draws, min bulk ESS over U_1 entries (pooled over ranks)",
             draws, draws);
    Comm self = world.split(world.rank(), 0);
    const PathInputs all = redistribute_rows(train, {0, P}, world);
    for (int N : widths)
      for (const std::string& target : targets)
        for (const std::string& metric : metrics) {
          if (target != "path-weights" && N > 100) continue;  // weight-space targets: O(N²) per step, hours at N = 1000
          if (target == "joint" && N > 10) continue;          // stiff at Temp = 0.01: tree depth 10
          const Architecture shape = markov_shape(N0, N);
          ExampleBlocks b1(P, 16, self);
          std::unique_ptr<LogDensity> density;
          JointPosterior* joint = nullptr;
          MarginalPosterior* marginal = nullptr;
          if (target == "joint") {
            auto j = std::make_unique<JointPosterior>(shape, Temp, redistribute_rows(all, b1.local(), self), b1);
            joint = j.get();
            density = std::move(j);
          } else {
            auto m = std::make_unique<MarginalPosterior>(shape, Temp, all, MarginalPosterior::coordinates_of(target));
            marginal = m.get();
            density = std::move(m);
          }
          if (metric == "dense" && density->dimension() > Chain::max_dense_dimension) continue;
          ChainOptions opt;
          opt.warmup = draws;
          opt.draws = draws;
          opt.dense_metric = metric == "dense";
          Chain chain(*density, opt, 11, world.rank());
          const double t0 = wall_seconds(), c0 = cpu_seconds();
          chain.initialise();
          std::vector<double> U(sz(H * H)), u(sz(H * N0));
          std::vector<std::vector<double>> trace(sz(H * H));
          double depth = 0;
          while (!chain.done()) {
            const bool warm = chain.warming_up();
            const NutsStats s = chain.iterate();
            if (warm) continue;
            depth += s.tree_depth;
            if (joint)
              joint->observe(chain.position().data(), U.data(), u.data());
            else
              marginal->observe(chain.position().data(), chain.rng(), U.data(), u.data());
            for (int e = 0; e < H * H; ++e) trace[sz(e)].push_back(U[sz(e)]);
          }
          const double seconds = world.max(wall_seconds() - t0), cpu = world.max(cpu_seconds() - c0);
          // Pool the chains of all ranks for the ESS (and R-hat with more than one chain).
          double min_ess = 1e300, rhat = 0;
          for (int e = 0; e < H * H; ++e) {
            const auto all_draws = world.allgather_blocks(trace[sz(e)]);
            diagnostics::Draws d(sz(world.size()));
            for (int r = 0; r < world.size(); ++r)
              d[sz(r)].assign(all_draws.begin() + r * draws, all_draws.begin() + (r + 1) * draws);
            const double v = diagnostics::ess_bulk(d);
            if (std::isfinite(v)) min_ess = std::min(min_ess, v);
            if (world.size() > 1) rhat = std::max(rhat, diagnostics::rhat(d));
          }
          const double grads = world.sum(double(chain.gradient_evaluations()));
          log.info("  N {:>5} {:>13} {:>5}: {:>5} dims, {:6.1f} s ({:6.1f} s CPU), mean tree depth {:4.1f}, {:9.3g} grad/s, "
                   "min ESS {:5.0f}, ESS/s {:8.3g} ({:8.3g} per CPU s){}",
                   N, target, metric, density->dimension(), seconds, cpu, depth / double(draws), grads / seconds, min_ess,
                   min_ess / seconds, min_ess / cpu, world.size() > 1 ? fmt::format(", max R-hat {:.3f}", rhat) : "");
        }
  }
  return 0;
}
