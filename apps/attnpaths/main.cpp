// attnpaths — the command. Usage:  attnpaths <subcommand> [options] [PETSc options]
//   attnpaths data markov --heads 4paths -o markov4.h5
//   mpirun -n 4 attnpaths theory --data markov4.h5 --widths 10,100,1000 --temperatures 0.01 -o theory.h5
// PETSc options (one dash, e.g. -log_view) go after the subcommand's own options.
// Exit codes: 0 ok, 1 internal error, 2 usage error, 3 bad input, 4 numerical failure,
// 5 not converged (results written and flagged), 6 library failure, 75 interrupted (checkpointed).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/runtime.hpp"
#include "attnpaths_version.hpp"
#include "command.hpp"

namespace attnpaths::app {

std::vector<std::pair<int, AddCommand>>& registry() {
  static std::vector<std::pair<int, AddCommand>> r;
  return r;
}

Registration::Registration(int order, AddCommand add) { registry().emplace_back(order, add); }

}  // namespace attnpaths::app

int main(int argc, char** argv) {
  using namespace attnpaths;
  std::unique_ptr<Runtime> owned;
  try {
    owned = std::make_unique<Runtime>(argc, argv);
  } catch (const std::exception& e) {
    abort_all(e.what(), 1);
  }
  // Errors are handled while the Runtime is alive: abort_all never returns, so MPI is not
  // finalised while another rank may be waiting in a collective.
  const Runtime& runtime = *owned;
  try {
    CLI::App app{
        "attnpaths " ATTNPATHS_VERSION
        ": the statistical-mechanics theory of attention paths (Tiberi et al., NeurIPS 2024) on MPI clusters.\n"
        "PETSc options (one dash, e.g. -log_view) may follow a subcommand's own options."};
    app.name("attnpaths");
    app.set_version_flag("--version", std::string(ATTNPATHS_VERSION " (" ATTNPATHS_GIT_COMMIT ")"));
    app.require_subcommand(1);
    app.set_config("--config", "", "Read options from a TOML file (keys as the long option names; "
                                   "subcommand options in a [subcommand] table)");
    app::CommandSet commands{runtime, {}};
    auto& reg = app::registry();
    std::sort(reg.begin(), reg.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& r : reg) r.second(app, commands);
    // Options files: a [subcommand] (or [data.markov]) table sets that subcommand's options.
    std::function<void(CLI::App*)> configurable = [&](CLI::App* a) {
      for (CLI::App* sub : a->get_subcommands([](CLI::App*) { return true; })) {
        sub->configurable();
        configurable(sub);
      }
    };
    configurable(&app);
    std::vector<std::string> args = runtime.app_args();
    std::reverse(args.begin(), args.end());
    args.pop_back();  // program name
    try {
      app.parse(args);
    } catch (const CLI::ParseError& e) {
      const bool root = runtime.world().is_root();
      if (e.get_exit_code() == 0) {  // --help, --version
        if (root) app.exit(e);
        return 0;
      }
      if (root) std::fprintf(stderr, "error: %s\nRun with --help for more information.\n", e.what());
      return 2;
    }
    int rc = commands.selected ? commands.selected() : 0;
    owned.reset();
    return rc;
  } catch (const Error& e) {
    abort_all(e.what(), e.exit_code());
  } catch (const std::exception& e) {
    abort_all(e.what(), 1);
  }
}
