// attnpaths select — temperature selection on the validation set (docs/theory.md, docs/files.md §2.1).
//   attnpaths select theory.h5 -o selection.h5
//   attnpaths select theory_T0.01.h5 theory_T0.1.h5 theory_T1.h5 -o selection.h5   (one file per Temp)
#include <memory>

#include "attnpaths/selection/selection.hpp"
#include "command.hpp"

namespace attnpaths::app {

namespace {

void add_select_command(CLI::App& app, CommandSet& commands) {
  auto o = std::make_shared<SelectOptions>();
  CLI::App* sub = app.add_subcommand(
      "select", "Pick each width's Temp (and the GP's) by the best validation accuracy of one or more theory files "
                "of the same dataset; report test and OOD accuracy there (docs/theory.md)");
  sub->footer(
      "For each width N: the temperature whose theory predictor has the highest accuracy on the dataset's /validation "
      "set (ties: the lowest Temp; only converged grid points unless none converged, which is flagged). The GP and "
      "each GP baseline with a validation set get their Temp the same way. Several theory files (e.g. one per Temp "
      "from a job array) are merged: same dataset checksum, same widths, each Temp once (equal to relative 1e-9). "
      "`theory` writes the same /selection group itself when its grid has >= 2 temperatures and the dataset has a "
      "validation set. Output layout: docs/files.md §2.1.");
  sub->add_option("theory", o->theory, "Theory files (docs/files.md §2) of one dataset with a validation set (required)")
      ->check(CLI::ExistingFile);
  add_output_options(sub, o->output, o->overwrite,
                     "Selection file to write (HDF5; `<file>.partial` until complete) (required)");
  sub->add_flag("--quiet,-q", o->quiet, "No table output");
  on_selected(sub, commands, [o, &commands]() -> int {
    SelectRun run(*o, commands.runtime.world(), commands.runtime.app_args());
    return run.run();
  });
}

const Registration registration(45, add_select_command);

}  // namespace

}  // namespace attnpaths::app
