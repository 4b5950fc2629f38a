// attnpaths prune — head scores from the theory's U_1 and head pruning of the theory predictor and of
// the gradient-descent network (docs/pruning.md).
//   attnpaths prune --data trained.h5 --theory theory.h5 --model model.h5 -o prune.h5
//   mpirun -n 2 attnpaths prune --data trained.h5 --theory theory.h5 --model model.h5 --width 10 --temperature 0.5 -o prune.h5
// Exit codes: 0 ok, 2 usage, 3 bad input (files that do not belong together, a width or temperature not in
// the theory grid, an unconverged theory point), 4 numerical failure, 6 library failure, 7 out of memory.
#include <memory>

#include "attnpaths/prune/prune_run.hpp"
#include "command.hpp"

namespace attnpaths::app {

namespace {

void add_prune_command(CLI::App& app, CommandSet& commands) {
  auto o = std::make_shared<PruneOptions>();
  CLI::App* sub = app.add_subcommand(
      "prune", "Head scores from the theory's U_1, and the accuracy of the theory predictor and of the trained "
               "network with heads removed");
  sub->footer(
      "The score of a head is the sum of |U_1| (symmetrised) over every pair of paths of which at least one passes "
      "through the head, divided by the largest score; U_1 is the theory's at --width and the temperature chosen by "
      "this rule: --temperature if given; else the temperature --selection selected for --width; else the theory "
      "file's own /selection; else the converged grid temperature with the best validation accuracy of the theory at --width "
      "(ties: the lowest); else the grid's only temperature. Removing heads: on the theory side the rows and "
      "columns of U_1 of every path through them are zeroed and the predictor recomputed; on the network side "
      "(--model) their outputs are zeroed and each layer's head sum is rescaled by (H - d)^-1/2 (d = heads removed "
      "from the layer). Every single head is removed alone, then heads are removed cumulatively in ascending "
      "score order, in descending order and in --random-orders random orders (a head whose removal would leave "
      "its layer empty is skipped), on every evaluation set of --data (test, validation, ood/*). The output also "
      "holds the Spearman correlation of score and single-head accuracy drop and the trained network's order "
      "parameter U^GD. See docs/pruning.md.");
  sub->add_option("--data", o->data,
                  "Dataset file the theory was computed from; with --model, the one `attnpaths train --output-data` "
                  "wrote with that model (its attention is the model's Q, K) (required)")
      ->check(CLI::ExistingFile);
  sub->add_option("--theory", o->theory, "Theory result file of `attnpaths theory` on --data (required)")
      ->check(CLI::ExistingFile);
  sub->add_option("--model", o->model,
                  "Model file of `attnpaths train` (its best weights): adds network-side pruning and U^GD; without "
                  "it only the theory side is computed")
      ->check(CLI::ExistingFile);
  add_output_options(sub, o->output, o->overwrite);
  sub->add_option("--width", o->width, "Width N of the theory grid whose U_1 gives the scores")
      ->check(whole(whole_max64))
      ->capture_default_str();
  sub->add_option("--temperature", o->temperature,
                  "Temperature of the theory grid (default 0: chosen by the rule below)")
      ->capture_default_str();
  sub->add_option("--selection", o->selection,
                  "Temperature-selection file of `attnpaths select` (its /selection/theory/temperature at --width)")
      ->check(CLI::ExistingFile);
  sub->add_option("--random-orders", o->random_orders, "Random head orders of the progressive-pruning baseline")
      ->check(whole())
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "Seed of the random orders (counter-based: the same on any rank count)")
      ->check(whole(whole_max64))
      ->capture_default_str();
  sub->add_flag("--quiet,-q", o->quiet, "No progress output");
  const Runtime& runtime = commands.runtime;
  on_selected(sub, commands, [o, &runtime] { return PruneRun(*o, runtime.world(), runtime.app_args()).run(); });
}

const Registration registration(65, add_prune_command);

}  // namespace

}  // namespace attnpaths::app
