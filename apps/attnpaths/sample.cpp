// attnpaths sample — posterior sampling of the network weights with distributed NUTS (docs/model.md §4;
// docs/files.md §3; docs/sampling.md).
//   mpirun -n 4 attnpaths sample --data markov4.h5 --width 100 --temperature 0.01 --chains 4
//          --draws 1000 --warmup 1000 -o samples_N100.h5   (one command line)
//   mpirun -n 8 attnpaths sample ... --chains 4 --shards 2          (4 chain groups × 2 example shards)
//   mpirun -n 4 attnpaths sample ... --resume                        (continue <out>.partial after exit 75)
// SIGTERM / SIGUSR1: the current transition finishes, a checkpoint is written, exit code 75.
#include <memory>
#include <string>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/sampler/sample_run.hpp"
#include "command.hpp"

namespace attnpaths::app {

namespace {

void add_sample_command(CLI::App& app, CommandSet& commands) {
  auto o = std::make_shared<SampleOptions>();
  CLI::App* sub = app.add_subcommand(
      "sample",
      "Sample the Bayesian posterior of the network weights (docs/model.md §2) with NUTS: C chains × K example "
      "shards (mpirun -n C·K); writes draws of U^s and of the test predictor, summaries and diagnostics "
      "(docs/files.md §3). SIGTERM/SIGUSR1 checkpoint and exit 75; continue with --resume.");
  // No CLI11 required(): options may come from a --config file; SampleOptions::validate() checks them.
  sub->add_option("--data", o->data, "Dataset file (docs/files.md §1) (required)")->check(CLI::ExistingFile);
  add_output_options(sub, o->output, o->overwrite,
                     "Samples file to write (HDF5; written as <file>.partial until done) (required)");
  sub->add_option("--width,-N", o->width, "Width N of every layer (w0 = … = wL = N)")->check(whole());
  sub->add_option("--widths", o->widths, "Per-layer widths w0,…,wL (overrides --width)")
      ->delimiter(',')
      ->check(whole());
  sub->add_option("--variances", o->variances, "Prior variances σ0²,σ1²,…,σL²,σa² (default all 1)")->delimiter(',');
  // No -T: in `data markov` -T is the number of tokens.
  sub->add_option("--temperature", o->temperature, "Likelihood variance Temp (y ~ N(f, Temp)) (required)");
  sub->add_option("--chains,-C", o->chains, "Chains C (chain groups; default: one chain per K ranks, C = ranks / K)")
      ->check(whole());
  sub->add_option("--shards,-K", o->shards, "Example shards K per chain (ranks = C·K)")->check(whole())->capture_default_str();
  sub->add_option("--draws,-S", o->draws, "Draws per chain after warm-up")->check(whole(whole_max64))->capture_default_str();
  sub->add_option("--warmup,-W", o->warmup, "Warm-up (adaptation) iterations per chain")
      ->check(whole(whole_max64))
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "Seed; chain c uses the random stream (seed, sampler, c)")
      ->check(whole(whole_max64))
      ->capture_default_str();
  sub->add_option("--target-accept", o->target_accept, "Dual-averaging target acceptance statistic")
      ->capture_default_str();
  sub->add_option("--max-depth", o->max_depth, "Maximum NUTS tree depth")->check(whole())->capture_default_str();
  sub->add_option("--checkpoint-every,-M", o->checkpoint_every,
                  "Iterations between checkpoints (draws are written and flushed at every checkpoint)")
      ->capture_default_str();
  sub->add_option("--thin", o->thin, "Store the test predictor of every thin-th draw")->check(whole(whole_max64))->capture_default_str();
  sub->add_option("--target", o->target,
                  "Posterior to run NUTS on (all give the same law of U^s and f): joint = all weights (docs/model.md §2); "
                  "v0-marginal = V0 integrated out exactly and drawn per draw from its Gaussian conditional (no "
                  "Temp-stiffness); path-weights = v0-marginal in the exact O(H_tot·N)-dimensional parametrisation "
                  "of the path weights W (fastest at large N); auto = the cheapest by a measured cost model, CPU s per "
                  "effective draw = s per gradient (joint O(P·N0·H_tot + weights), marginals O(P³ + H_tot²·P²)) × "
                  "gradients per effective draw (marginals ~70; joint ~1.7·255/sqrt(Temp), its V0 stiff at small "
                  "Temp, at most 2^max-depth): joint wins at large P or large Temp, path-weights at small Temp and "
                  "large N (docs/sampling.md); the log prints the estimates")
      ->capture_default_str();
  sub->add_option("--metric", o->metric,
                  "NUTS metric, adapted in Stan's slow warm-up windows: diag = variances; dense = the full covariance "
                  "(far shorter trees on correlated posteriors, O(n²) per gradient for n sampled coordinates, at most "
                  "8192 coordinates); auto = diag (measured faster on the network posteriors, docs/sampling.md)")
      ->capture_default_str();
  sub->add_option("--reduction-blocks", o->reduction_blocks,
                  "Fixed example blocks of the shard reduction (power of two ≥ K; part of the result's identity)")
      ->capture_default_str();
  sub->add_option("--progress-seconds", o->progress_seconds, "Seconds between progress lines")->capture_default_str();
  sub->add_flag("--resume", o->resume, "Continue from <output>.partial (options and data must match)");
  sub->add_flag("--quiet,-q", o->quiet, "No progress output");
  sub->add_option("--interrupt-after", o->interrupt_after,
                  "Testing: act as if SIGTERM arrived after this many iterations of this invocation")
      ->group("");  // hidden
  sub->add_option("--fail-after", o->fail_after,
                  "Testing: the last chain fails (exit 4) when it reaches this iteration; the other chains do not")
      ->group("");  // hidden
  on_selected(sub, commands, [o, &commands]() -> int {
    const Runtime& runtime = commands.runtime;
    return run_interruptible(runtime, [&] { return SampleRun(*o, runtime.world(), runtime.app_args()).run(); });
  });
}

const Registration reg(30, add_sample_command);

}  // namespace

}  // namespace attnpaths::app
