// `attnpaths compare`: the theory (docs/files.md §2) against posterior samples (docs/files.md §3), side by side for
// each width: accuracy of the mean predictor (theory, sampled, GP), U_1 entries (theory vs sampled
// mean ± MCSE), correlation of the predictor means over the test set and the ratio of predictor
// variances (sampled / theory), with the sampler's worst R̂. Each samples file is matched to the theory
// grid point of its width and temperature (an error if the grid has none).
#pragma once

#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"

namespace attnpaths {

struct CompareOptions {
  std::string theory;                // theory file
  std::vector<std::string> samples;  // samples files
  std::string output;                // optional compare file
  bool quiet = false;
  bool overwrite = false;            // replace an existing complete output
};

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

// Reads the files and matches every samples file to its grid point (collective on comm). Throws
// InputError for inputs that do not belong together: a `.partial` (unfinished) file, samples of another
// dataset (data checksums differ), NaN results. An unconverged theory point is kept and flagged.
std::vector<ComparisonRow> compare_theory_samples(const CompareOptions& options, const Comm& comm, int* paths,
                                                  std::vector<std::string>* path_labels);

class CompareRun {
 public:
  CompareRun(CompareOptions options, const Comm& world, std::vector<std::string> command_line);
  int run();

 private:
  CompareOptions options_;
  const Comm& world_;
  std::vector<std::string> command_line_;
};

}  // namespace attnpaths
