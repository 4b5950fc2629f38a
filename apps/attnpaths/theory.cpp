// attnpaths theory — the finite-width theory over a grid of widths × temperatures (docs/files.md §2).
//   attnpaths theory --data markov4.h5 --widths 10,30,50,100,300,500,1000 --temperatures 0.01 -o theory.h5
//   mpirun -n 4 attnpaths theory --data images.h5 --widths 10,100 --temperatures 0.01,0.1 -o t.h5 -log_view
// Exit code 5 when some grid point did not meet the stopping rule (results written and flagged).
#include <memory>

#include "attnpaths/core/error.hpp"
#include "attnpaths/theory/theory_run.hpp"
#include "command.hpp"

namespace attnpaths::app {

namespace {

// The minimiser's options (docs/theory.md, "Minimiser").
void add_minimiser_options(CLI::App* sub, MinimiserOptions& m) {
  sub->add_option("--grad-tol", m.grad_tol,
                  "Stopping rule: max|dS/dU| < grad-tol (S normalised by the largest width)")
      ->capture_default_str();
  sub->add_option_function<std::string>(
         "--minimiser", [&m](const std::string& s) { m.method = parse_minimiser_method(s); },
         "Descent from the start to the stopping rule: newton (damped Newton steps with the exact Hessian; few "
         "evaluations at any P/N), lmvm (TAO's limited-memory quasi-Newton; continued by newton if it stalls) or "
         "auto (newton where a Hessian costs at most 5 evaluations: the dual form, and the primal form unless P << "
         "N0*H_tot; lmvm elsewhere, e.g. the path-pairs form at small P)")
      ->check(CLI::IsMember({"auto", "newton", "lmvm"}))
      ->default_str("auto");
  sub->add_option("--polish-tol", m.polish_tol,
                  "After the stopping rule is met, Newton steps until max|dS/dU| < polish-tol (0: off)")
      ->capture_default_str();
  sub->add_option_function<std::string>(
         "--polish", [&m](const std::string& s) { m.polish = parse_polish_method(s); },
         "Hessian of the Newton steps (descent and polish): analytic (the energy's second derivatives in closed "
         "form, a few gradients' cost) or differences (differences of the gradient, one evaluation per unknown)")
      ->check(CLI::IsMember({"analytic", "differences"}))
      ->default_str("analytic");
  sub->add_option("--max-iterations", m.max_iterations, "Newton (or quasi-Newton) iteration limit per grid point")->check(whole())
      ->capture_default_str();
}

void add_theory_command(CLI::App& app, CommandSet& commands) {
  auto o = std::make_shared<TheoryOptions>();
  CLI::App* sub = app.add_subcommand(
      "theory", "Solve the finite-width theory over a grid of widths × temperatures, plus the GP baseline (docs/files.md §2)");
  sub->footer(
      "Minimises the action over the order parameters for every width N and temperature (docs/model.md §3), starting "
      "from the GP point (or a neighbouring solution, --warm-start); predictor statistics on the test (and validation/OOD) sets with the theory U_1, its "
      "diagonal and the GP U_1; kernel-label alignment. PETSc options go after these options: -theory_tao_monitor, "
      "-log_view. Exit code 5 if a grid point misses the stopping rule (results "
      "written and flagged). With >= 2 temperatures and a dataset that has a /validation set, also the temperature "
      "selection on the validation set (/selection, docs/files.md §2.1; `attnpaths select` merges files). See "
      "docs/theory.md.");
  // No CLI11 required(): CLI11 checks those before it reads an options file (--config); the
  // library's TheoryOptions::validate() reports missing options instead.
  sub->add_option("--data", o->data, "Dataset file (docs/files.md §1), e.g. from `attnpaths data markov` (required)")
      ->check(CLI::ExistingFile);
  add_output_options(sub, o->output, o->overwrite);
  sub->add_option("--widths", o->widths,
                  "Widths N (comma-separated; required unless --gp-only); every layer's width w_l = N (see --width-ratios)")
      ->delimiter(',')
      ->check(whole());
  sub->add_option("--temperatures", o->temperatures, "Temperatures Temp > 0 (comma-separated) (required)")
      ->delimiter(',');
  sub->add_option("--variances", o->variances,
                  "Prior variances σ0²,σ1²,…,σL²,σa² (L+2 values; default all 1)")
      ->delimiter(',');
  sub->add_option("--width-ratios", o->width_ratios,
                  "Per-layer widths relative to N: w_l = ratio_l·N, l = 0..L (L+1 values; default all 1)")
      ->delimiter(',');
  sub->add_option("--form", o->form,
                  "Kernel form: primal (P×P), path-pairs (the H_tot(H_tot+1)/2 P×P path-pair kernels formed once), "
                  "dual (r×r Gram, r = N0·H_tot), or auto (dual if P > r, else path-pairs if they take at most "
                  "32 MiB and cost fewer flops, else primal)")
      ->check(CLI::IsMember({"auto", "primal", "dual", "path-pairs"}))
      ->capture_default_str();
  sub->add_flag("--gp-only", o->gp_only, "Only the GP (infinite-width) predictor; no minimisation");
  add_minimiser_options(sub, o->minimiser);
  sub->add_option("--warm-start", o->warm_start,
                  "Start of each grid point: none (the GP point), temperature (the same width's solution at the "
                  "previous temperature) or width (the previous width's at the same temperature)")
      ->check(CLI::IsMember({"none", "temperature", "width"}))
      ->capture_default_str();
  sub->add_option("--alignment", o->alignment, "Top-k eigenvectors for the kernel-label alignment (0: skip)")->check(whole())
      ->capture_default_str();
  sub->add_option("--kernel-subset", o->kernel_subset,
                  "Training examples (class-sorted) whose kernels are stored for figures (0: skip)")
      ->capture_default_str();
  sub->add_option("--block-size", o->block_mb,
                  "MiB of examples (as float64) read and processed at a time per rank; two blocks are in memory (the "
                  "next is read while one is computed); in the dual form the memory does not grow with P; small blocks "
                  "reuse their memory and stay in cache (docs/theory.md)")
      ->capture_default_str();
  sub->add_option("--gp-baseline", o->baselines,
                  "NAME=FILE: also the GP predictor of another dataset file (e.g. other heads), stored under "
                  "/baselines/NAME (repeatable)");
  sub->add_flag("--resume", o->resume, "Continue an interrupted run from <output>.partial (same options and data)");
  const Runtime& runtime = commands.runtime;
  on_selected(sub, commands, [o, &runtime] {
    apply_blas_thread_policy(runtime.world());
    TheoryRun run(*o, runtime.world(), runtime.app_args());
    const int failed = run.run();
    if (failed > 0)
      throw ConvergenceError(fmt::format("{} grid point(s) did not meet the stopping rule max|dS/dU| < {:g}; their "
                                         "results are written and flagged (/theory/converged = 0)",
                                         failed, o->minimiser.grad_tol));
    return 0;
  });
}

const Registration registration(20, add_theory_command);

}  // namespace

}  // namespace attnpaths::app
