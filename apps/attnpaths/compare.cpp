// attnpaths compare — theory against posterior samples, side by side for each width (docs/sampling.md).
//   attnpaths compare --theory theory.h5 --samples s_N10.h5 s_N100.h5 s_N1000.h5 -o compare.h5
#include <memory>

#include "attnpaths/compare/compare.hpp"
#include "command.hpp"

namespace attnpaths::app {

namespace {

void add_compare_command(CLI::App& app, CommandSet& commands) {
  auto o = std::make_shared<CompareOptions>();
  CLI::App* sub = app.add_subcommand(
      "compare",
      "Compare a theory file (docs/files.md §2) with samples files (docs/files.md §3): accuracy (theory, sampled, GP), U_1 "
      "entries, predictor-mean correlation and variance ratio per width; each samples file is matched to "
      "the theory grid point of its width and temperature");
  // No CLI11 required(): options may come from a --config file; checked when the run starts.
  sub->add_option("--theory", o->theory, "Theory file (required)")->check(CLI::ExistingFile);
  sub->add_option("--samples", o->samples, "Samples files, one per width (required)")
      ->expected(1, -1)
      ->check(CLI::ExistingFile);
  add_output_options(sub, o->output, o->overwrite, "Comparison file to write (HDF5, optional)");
  sub->add_flag("--quiet,-q", o->quiet, "No table output");
  on_selected(sub, commands, [o, &commands]() -> int {
    CompareRun run(*o, commands.runtime.world(), commands.runtime.app_args());
    return run.run();
  });
}

const Registration reg(40, add_compare_command);

}  // namespace

}  // namespace attnpaths::app
