// `attnpaths select`: the selection of selection.hpp over one or more theory files, as its own file.
#include <fmt/format.h>

#include "attnpaths/core/config.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/io/file_notes.hpp"
#include "attnpaths/io/run_record.hpp"
#include "attnpaths/selection/selection.hpp"

namespace attnpaths {

SelectRun::SelectRun(SelectOptions options, const Comm& comm, std::vector<std::string> command_line)
    : options_(std::move(options)), comm_(comm), command_line_(std::move(command_line)) {}

int SelectRun::run() {
  const SelectOptions& o = options_;
  ATTN_REQUIRE(!o.theory.empty(), UsageError, "select: give at least one theory file");
  ATTN_REQUIRE(!o.output.empty(), UsageError, "select: -o/--output FILE is required");
  const h5::OutputClaim claim = h5::OutputFile::claim(o.output, comm_, {o.overwrite, false, o.theory});
  const Log log(comm_, o.quiet);
  StageTimers timers;
  Provenance provenance = Provenance::collect(comm_, command_line_);
  std::vector<TheoryResults> files;
  {
    auto t = timers.stage("read");
    for (const auto& path : o.theory) files.push_back(read_theory_file(path, comm_));
  }
  const TemperatureSelection selection = select_temperatures(files);
  log_selection(log, selection);
  h5::OutputFile out(o.output, comm_);
  const h5::File& file = out.file();
  write_format(file, "attnpaths-selection", 1);
  Config config;
  config.set("command", "select");
  config.set("theory", o.theory);
  config.set("output", o.output);
  config.set("overwrite", o.overwrite);
  config.set("data_checksum", selection.data_checksum);
  write_config(file, config);
  write_selection(file, selection);
  provenance.finish();
  write_provenance(file, provenance, timers);
  for (const auto& p : h5::annotate(file, selection_file_notes()))
    log.warn("no description for dataset {} (docs/files.md)", p);
  out.commit();
  log.info("wrote '{}'", o.output);
  return 0;
}

}  // namespace attnpaths
