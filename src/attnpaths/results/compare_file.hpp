// The compare file (docs/files.md §4): its record and its one writer (`attnpaths compare`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnpaths/core/config.hpp"
#include "attnpaths/io/hdf5.hpp"

namespace attnpaths {

// One samples file against the theory grid point of its width and temperature.
struct ComparisonRow {
  std::string samples_file;
  std::int64_t width = 0;
  double temperature = 0;
  int width_index = 0, temperature_index = 0;
  double accuracy_theory = 0, accuracy_sampled = 0, accuracy_gp = 0;
  std::vector<double> U1_theory, U1_sampled, U1_mcse;  // [H × H]
  double mean_correlation = 0;   // Pearson correlation of the predictor means over the test set
  double variance_ratio = 0;     // mean sampled variance / mean theory variance
  double rhat_U1 = 0, rhat_predictor = 0;
  bool diagnostics_passed = false;  // the samples file's /diagnostics@passed (Stan's checks)
  bool theory_converged = true;     // /theory/converged of the matched grid point
  // "agrees" (|accuracy sampled − theory| < 3 points AND the diagnostics passed), "differs", or
  // "diagnostics failed" (no verdict on accuracy alone).
  std::string verdict() const;
};

// Writes the rows as /compare (with /config from `config`; collective). Provenance and descriptions
// are the caller's (they close the run).
void write_compare_file(const h5::File& file, const Config& config, const std::vector<ComparisonRow>& rows, int paths,
                        const std::vector<std::string>& path_labels);

}  // namespace attnpaths
