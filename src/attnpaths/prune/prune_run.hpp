// One run of `attnpaths prune` (docs/pruning.md): head scores from the theory's U_1 at one width and
// temperature, and the accuracy of the pruned theory predictor and of the pruned gradient-descent
// network — every single head, and progressive pruning in ascending score order, in descending order
// and in random orders — on every evaluation set of the dataset; the Spearman correlation between
// score and single-head accuracy drop; the GD order parameter U^GD. Pipeline:
//   load dataset + theory point (+ model) → scores and removal sequences → theory side: path inputs,
//   kernel, one factorisation per distinct head set → network side: one forward pass per set, then
//   every head set from the per-path terms → write (docs/files.md §6).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/config.hpp"

namespace attnpaths {

struct PruneOptions {
  std::string data;        // dataset file whose attention is the model's (train --output-data)
  std::string theory;      // theory result of that dataset
  std::string model;       // model file of `attnpaths train` (optional: theory side only without it)
  std::string output;
  std::string selection;   // a temperature-selection file (optional; docs/pruning.md)
  std::int64_t width = 10;
  double temperature = 0;  // 0: chosen by the rule of prune/theory_point.hpp
  int random_orders = 20;
  std::uint64_t seed = 1;
  bool overwrite = false, quiet = false;

  void validate() const;  // UsageError for missing options, InputError for bad values
  Config to_config() const;
};

class PruneRun {
 public:
  PruneRun(PruneOptions options, const Comm& comm, std::vector<std::string> command_line);
  int run();

 private:
  PruneOptions options_;
  const Comm& comm_;
  std::vector<std::string> command_line_;
};

}  // namespace attnpaths
