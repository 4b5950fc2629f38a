// Subcommands register themselves: each apps/attnpaths/<name>.cpp defines
//   static const Registration reg(order, add_<name>_command);
// where add_<name>_command adds its CLI11 subcommand and, when it is selected, stores the action.
// Apps hold no math: an action parses nothing more, builds the library's run object and runs it.
#pragma once

#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/runtime.hpp"

namespace attnpaths::app {

using Action = std::function<int()>;

struct CommandSet {
  const Runtime& runtime;
  Action selected;  // set by the selected subcommand's parse callback
};

using AddCommand = void (*)(CLI::App& app, CommandSet& commands);

struct Registration {
  Registration(int order, AddCommand add);
};

std::vector<std::pair<int, AddCommand>>& registry();

// Marks `sub` as selected when parsed: `commands.selected = action`.
inline void on_selected(CLI::App* sub, CommandSet& commands, Action action) {
  sub->parse_complete_callback([&commands, action] { commands.selected = action; });
}

// Runs the action of a checkpointing command: a run stopped by SIGTERM/SIGUSR1 has checkpointed on
// every rank and throws Interrupted; leave MPI cleanly with its documented exit code (75).
template <class F>
int run_interruptible(const Runtime& runtime, F&& action) {
  try {
    return action();
  } catch (const Interrupted& e) {
    Log(runtime.world()).warn("{}", e.what());
    return e.exit_code();
  }
}

// Validators shared by the subcommands.
// A whole number in [0, max] (CLI11 itself would clamp "99999999999999999999" and wrap "-1").
inline CLI::Validator whole(std::int64_t max = std::numeric_limits<int>::max()) {
  return CLI::Validator(
      [max](std::string& s) -> std::string {
        std::int64_t v = 0;
        const char* end = s.data() + s.size();
        const auto [p, ec] = std::from_chars(s.data(), end, v);
        if (ec == std::errc::result_out_of_range || (ec == std::errc() && p == end && v > max))
          return "'" + s + "' is out of range (at most " + std::to_string(max) + ")";
        if (ec != std::errc() || p != end || v < 0) return "'" + s + "' is not a whole number >= 0";
        return "";
      },
      "");  // no help suffix: "--seed INT=1" stays readable; the message says what is wrong
}
constexpr std::int64_t whole_max64 = std::numeric_limits<std::int64_t>::max();

// -o,--output FILE (help: what the file is) and --overwrite, as every command that writes one result file
// declares them (the file is claimed by h5::OutputFile::claim).
inline void add_output_options(CLI::App* sub, std::string& output, bool& overwrite,
                               const std::string& help = "Result file to write (HDF5; `<file>.partial` until complete) "
                                                         "(required)") {
  sub->add_option("-o,--output", output, help);
  sub->add_flag("--overwrite", overwrite, "Replace an existing complete output file (refused otherwise)");
}

}  // namespace attnpaths::app
