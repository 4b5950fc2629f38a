// attnpaths — the command. Usage:  attnpaths <subcommand> [options] [PETSc options]
//   attnpaths data markov --heads 4paths -o markov4.h5
//   mpirun -n 4 attnpaths theory --data markov4.h5 --widths 10,100,1000 --temperatures 0.01 -o theory.h5
// PETSc options (one dash, e.g. -log_view) go after the subcommand's own options.
// Exit codes: 0 ok, 1 internal error, 2 usage error, 3 bad input, 4 numerical failure,
// 5 not converged (results written and flagged), 6 library failure, 7 out of memory,
// 75 interrupted (checkpointed).
// The command line (and options file) is parsed before MPI and PETSc start: --help, --version and
// usage errors answer at once.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <functional>
#include <memory>

#include "attnpaths/core/buffer.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/runtime.hpp"
#include "attnpaths_version.hpp"
#include "command.hpp"
#include "options_file.hpp"

namespace attnpaths::app {

std::vector<std::pair<int, AddCommand>>& registry() {
  static std::vector<std::pair<int, AddCommand>> r;
  return r;
}

Registration::Registration(int order, AddCommand add) { registry().emplace_back(order, add); }

namespace {

std::string out_of_memory_detail() {
  const std::size_t n = last_failed_allocation();  // core/buffer.hpp: operator new below notes it too
  if (n == 0) return "";
  return fmt::format(": an allocation of {} bytes ({:.3g} GiB) failed; use more ranks or nodes, or less data",
                     n, static_cast<double>(n) / 1073741824.0);
}

// Before MPI starts, only the launcher tells the rank: print usage messages once.
bool launcher_root() {
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"})
    if (const char* r = std::getenv(v)) return std::atoi(r) == 0;
  return true;
}

// An unknown subcommand is named (CLI11 would only say "A subcommand is required").
void check_subcommand_names(const CLI::App& app, const std::vector<std::string>& reversed_args) {
  const CLI::App* cur = &app;
  for (auto it = reversed_args.rbegin(); it != reversed_args.rend(); ++it) {
    const auto subs = cur->get_subcommands([](const CLI::App*) { return true; });
    if (it->empty() || (*it)[0] == '-' || subs.empty()) return;
    const CLI::App* next = nullptr;
    std::string names;
    for (const CLI::App* sub : subs) {
      if (sub->check_name(*it)) next = sub;
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (next == nullptr)
      throw CLI::ExtrasError("unknown subcommand '" + *it + "' (the subcommands are: " + names + ")",
                             CLI::ExitCodes::ExtrasError);
    cur = next;
  }
}

// Every rank must run the same command: with different arguments (a wrapper script that varies them per
// rank) their collectives would not match and the job would hang. Rank 0's arguments are broadcast and
// compared; every rank throws the same UsageError naming the first rank that differs.
void require_same_command(const Comm& world, const std::vector<std::string>& args) {
  std::string mine;  // without the program's path (argv[0])
  for (std::size_t i = 1; i < args.size(); ++i) mine += args[i] + '\n';
  std::string root = mine;
  world.bcast(root);
  const std::int64_t first = world.min(root == mine ? std::int64_t{world.size()} : std::int64_t{world.rank()});
  if (first == world.size()) return;
  std::string theirs = mine;
  world.bcast(theirs, static_cast<int>(first));
  std::replace(root.begin(), root.end(), '\n', ' ');
  std::replace(theirs.begin(), theirs.end(), '\n', ' ');
  throw UsageError(fmt::format("the MPI ranks were started with different arguments (rank 0: '{}', rank {}: '{}'); "
                               "every rank must run the same command",
                               root, first, theirs));
}

CLI::App* innermost_selected(CLI::App& app) {
  CLI::App* cur = &app;
  while (!cur->get_subcommands().empty()) cur = cur->get_subcommands().front();
  return cur;
}

}  // namespace

}  // namespace attnpaths::app

// Global allocation that records the size of a failed request (the default one does not say). The
// default operator new[] calls it and the default operator delete frees with std::free.
void* operator new(std::size_t n) {
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  attnpaths::note_failed_allocation(n);
  throw std::bad_alloc();
}

int main(int argc, char** argv) {
  using namespace attnpaths;
  Runtime runtime(argc, argv, Runtime::Deferred{});
  CLI::App app{
      "attnpaths " ATTNPATHS_VERSION
      ": the statistical-mechanics theory of attention paths (Tiberi et al., NeurIPS 2024) on MPI clusters.\n"
      "PETSc options (one dash, e.g. -log_view) may follow a subcommand's own options."};
  app::CommandSet commands{runtime, {}};
  // 1. Parse the command line and the options file without MPI: answers --help and --version at once.
  try {
    app.name("attnpaths");
    app.set_version_flag("--version", std::string(ATTNPATHS_VERSION " (" ATTNPATHS_GIT_COMMIT ")"));
    app.require_subcommand(1);
    std::string config_help;
    app.add_option("--config", config_help,
                   "Read options from a TOML file, before or after the subcommand: one table per subcommand "
                   "([theory], [sample], [data.markov], ...), keys = long option names; the command line wins");
    auto& reg = app::registry();
    std::sort(reg.begin(), reg.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& r : reg) r.second(app, commands);
    std::vector<std::string> args = runtime.app_args();
    std::reverse(args.begin(), args.end());
    args.pop_back();  // program name
    const std::string config = app::take_config_option(args);
    app::check_subcommand_names(app, args);
    app.parse(args);
    if (!config.empty()) app::apply_options_file(config, app, *app::innermost_selected(app));
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help, --version
      if (app::launcher_root()) app.exit(e);
      return 0;
    }
    if (app::launcher_root()) std::fprintf(stderr, "error: %s\nRun with --help for more information.\n", e.what());
    return 2;
  }
  // 2. Start MPI and PETSc and run. Errors are handled while the Runtime is alive: abort_all never
  // returns, so MPI is not finalised while another rank may be waiting in a collective.
  try {
    runtime.start();
    app::require_same_command(runtime.world(), runtime.app_args());
    return commands.selected ? commands.selected() : 0;
  } catch (const Error& e) {
    abort_all(e.what(), e.exit_code());
  } catch (const std::bad_alloc& e) {
    abort_all(fmt::format("out of memory ({}){}", e.what(), app::out_of_memory_detail()), 7);
  } catch (const std::exception& e) {
    abort_all(e.what(), 1);
  }
}
