// Options files (TOML, `--config FILE`, before or after the subcommand): one project file may hold a
// table per subcommand ([theory], [sample], [data.markov], …); the selected subcommand takes its own
// table, the other tables are checked but not applied. Keys are the long option names without `--`.
// Every key must name an option of its table's subcommand, every table a subcommand; a file that is
// not text (NUL bytes, invalid UTF-8) is refused. The command line wins over the file.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace attnpaths::app {

// Removes `--config FILE` / `--config=FILE` from `args` (CLI11 order: reversed, program name
// removed) and returns FILE ("" if absent). Throws CLI::ParseError if FILE is missing or repeated.
std::string take_config_option(std::vector<std::string>& args);

// Applies the table of `selected` (the innermost parsed subcommand of `app`) from `path` to the
// options not given on the command line. Throws CLI::ParseError (exit 2) naming the file, table and key.
void apply_options_file(const std::string& path, CLI::App& app, CLI::App& selected);

}  // namespace attnpaths::app
