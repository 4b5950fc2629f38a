// attnpaths robustness — Lipschitz bounds of the attention heads and paths, their empirical
// constants, and the theory's and GP's predictor on perturbed test inputs (docs/robustness.md).
//   attnpaths robustness --data markov4.h5 --theory theory.h5 --widths 10,1000 -o robustness.h5
//   mpirun -n 2 attnpaths robustness --data markov4.h5 --theory theory.h5 --perturbations gaussian -o r.h5
// Exit code 4 if a measured ratio exceeds its bound (the file is written; that is a bug to report).
#include <memory>

#include "attnpaths/robustness/robustness_run.hpp"
#include "command.hpp"

namespace attnpaths::app {

namespace {

void add_robustness_command(CLI::App& app, CommandSet& commands) {
  auto o = std::make_shared<RobustnessOptions>();
  CLI::App* sub = app.add_subcommand(
      "robustness", "Lipschitz bounds of heads and paths, and predictor stability under perturbed inputs");
  sub->footer(
      "Bounds every head's attention map and every path input on the ball of the data's largest token norm R, "
      "measures the same constants with random and adversarial perturbations of test inputs (a measurement above "
      "its bound fails the run with exit code 4), then evaluates the theory's predictor (U_1 of --theory at the "
      "chosen widths and temperature) and the GP's on test inputs perturbed with size epsilon: gaussian (noise of "
      "standard deviation epsilon on every feature), replace (a fraction epsilon of the tokens replaced by random "
      "tokens), adversarial (|delta| <= epsilon per feature, signed-gradient ascent against each predictor's "
      "mean). See docs/robustness.md.");
  sub->add_option("--data", o->data, "Dataset file, the one the theory file was computed from (required)")
      ->check(CLI::ExistingFile);
  sub->add_option("--theory", o->theory, "Theory result file of `attnpaths theory` on --data (required)")
      ->check(CLI::ExistingFile);
  add_output_options(sub, o->output, o->overwrite);
  sub->add_option("--widths", o->widths, "Widths N of the theory grid to evaluate (comma-separated; default: all)")
      ->delimiter(',');
  sub->add_option("--temperature", o->temperature,
                  "Temperature of the theory grid to use (default 0: the file's first temperature)");
  sub->add_option("--epsilons", o->epsilons, "Perturbation sizes epsilon >= 0 (comma-separated)")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--perturbations", o->perturbations, "Any of gaussian,replace,adversarial (comma-separated)")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--test-examples", o->test_examples, "Use this many test examples, spread evenly over the test set (0: all)")
      ->capture_default_str();
  sub->add_option("--adversarial-steps", o->adversarial_steps, "Adversarial: scales of the first signed-gradient step and projected steps after it")
      ->capture_default_str();
  sub->add_option("--lipschitz-examples", o->lipschitz.examples,
                  "Test examples on which the Lipschitz constants are measured")
      ->capture_default_str();
  sub->add_option("--lipschitz-directions", o->lipschitz.random_directions,
                  "Random perturbations per example and size")
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "Seed of every random perturbation")->capture_default_str();
  const Runtime& runtime = commands.runtime;
  on_selected(sub, commands, [o, &runtime] {
    o->lipschitz.seed = o->seed;
    RobustnessRun run(*o, runtime.world(), runtime.app_args());
    run.run();
    return 0;
  });
}

const Registration registration(60, add_robustness_command);

}  // namespace

}  // namespace attnpaths::app
