// Temperature selection on the validation set (docs/theory.md "Temperature selection"): for each width
// N the Temp whose theory predictor has the best validation accuracy, the GP's Temp and each GP
// baseline's Temp chosen the same way, and the test and out-of-distribution accuracies at those Temps.
// Rule: the highest validation accuracy; ties go to the lowest Temp; for the theory only converged
// grid points are candidates (if none at a width converged, all are, and the choice is flagged).
// Any dataset with a /validation set qualifies; `theory` writes /selection by itself when its grid has
// ≥ 2 temperatures, and `attnpaths select` merges several theory files (e.g. one per Temp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/results/theory_file.hpp"

namespace attnpaths {

// One predictor's chosen Temp and its accuracies there.
struct SelectedTemperature {
  int index = -1;                          // into TemperatureSelection::temperatures (-1: none)
  double temperature = 0, validation_accuracy = 0;
  bool converged = true;                   // the chosen theory point met the stopping rule
  std::map<std::string, double> accuracy;  // "test", "ood/<name>" → accuracy at the chosen Temp
};

struct TemperatureSelection {
  std::vector<std::string> sources;        // the theory files
  std::string data_file, data_checksum;
  std::vector<double> temperatures;        // the merged grid, ascending
  std::vector<std::int64_t> widths;
  std::vector<std::string> sets;           // the reported sets: "test", then "ood/<name>"
  std::vector<SelectedTemperature> theory; // one per width
  SelectedTemperature gp;
  std::map<std::string, SelectedTemperature> baselines;  // those whose dataset has a validation set
};

// Merges the theory files' grids (same dataset checksum, same widths, no temperature twice — equal to
// relative 1e-9) and selects. Throws InputError naming the file when they do not belong together or
// when the dataset has no validation set.
TemperatureSelection select_temperatures(const std::vector<TheoryResults>& files);

// Writes the /selection group (docs/files.md §2.1) into `file` (collective).
void write_selection(const h5::File& file, const TemperatureSelection& selection);

// The chosen Temps and accuracies as a table on the log.
void log_selection(const Log& log, const TemperatureSelection& selection);

struct SelectOptions {
  std::vector<std::string> theory;  // theory files of one dataset
  std::string output;               // selection file (docs/files.md §2.1)
  bool overwrite = false;
  bool quiet = false;
};

// `attnpaths select THEORY.h5 [MORE.h5 ...] -o SELECTION.h5`.
class SelectRun {
 public:
  SelectRun(SelectOptions options, const Comm& comm, std::vector<std::string> command_line);
  int run();

 private:
  SelectOptions options_;
  const Comm& comm_;
  std::vector<std::string> command_line_;
};

}  // namespace attnpaths
