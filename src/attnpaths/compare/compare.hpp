// `attnpaths compare`, its own stage above results/ (it reads theory and samples files and writes a
// compare file, all through results/): the theory (docs/files.md §2) against posterior samples
// (docs/files.md §3), side by side for each width: accuracy of the mean predictor (theory, sampled, GP), U_1 entries (theory vs sampled
// mean ± MCSE), correlation of the predictor means over the test set and the ratio of predictor
// variances (sampled / theory), with the sampler's worst R̂. Each samples file is matched to the theory
// grid point of its width and temperature (an error if the grid has none).
#pragma once

#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/io/run_record.hpp"
#include "attnpaths/results/compare_file.hpp"  // ComparisonRow

namespace attnpaths {

struct CompareOptions {
  std::string theory;                // theory file
  std::vector<std::string> samples;  // samples files
  std::string output;                // optional compare file
  bool quiet = false;
  bool overwrite = false;            // replace an existing complete output
};

// Reads the files and matches every samples file to its grid point (collective on comm). Throws
// InputError for inputs that do not belong together: a `.partial` (unfinished) file, samples of another
// dataset (data checksums differ), NaN results. An unconverged theory point is kept and flagged.
std::vector<ComparisonRow> compare_theory_samples(const CompareOptions& options, const Comm& comm, int* paths,
                                                  std::vector<std::string>* path_labels);

class CompareRun {
 public:
  CompareRun(CompareOptions options, const Comm& world, std::vector<std::string> command_line);
  int run();  // read and match → print side by side → write

 private:
  void print(const std::vector<ComparisonRow>& rows, const std::vector<std::string>& labels) const;
  void write(const std::vector<ComparisonRow>& rows, int paths, const std::vector<std::string>& labels,
             StageTimers& timers, Provenance& provenance) const;

  CompareOptions options_;
  const Comm& world_;
  std::vector<std::string> command_line_;
};

}  // namespace attnpaths
