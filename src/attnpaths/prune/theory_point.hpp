// Where `attnpaths prune` reads a theory file (docs/files.md §2, through results/theory_file): the
// theory's U_1 at one width N and one temperature, checked against the dataset. How the temperature is chosen (docs/pruning.md):
//   1. `temperature` > 0: that grid temperature ("option");
//   2. else `selection` names a file: the temperature it selected for width N ("selection file");
//   3. else the theory file's own /selection group, when present ("theory selection");
//   4. else the temperature selection/ picks on the validation set (best validation accuracy at width N
//      among converged points, ties: the lowest temperature), when the file has one ("validation");
//   5. else the grid's only temperature ("only"); several temperatures and none of the above: UsageError.
#pragma once

#include <Eigen/Dense>

#include <cstdint>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/data/dataset.hpp"

namespace attnpaths {

struct TheoryPoint {
  std::string path, checksum;        // the theory file and its checksum
  std::int64_t width = 0;            // N
  double temperature = 0;            // Temp
  std::string temperature_rule;      // "option" | "selection file" | "theory selection" | "validation" | "only"
  Eigen::MatrixXd U1;                // [H_tot × H_tot]
  std::vector<double> variances;     // σ0², …, σa² the theory used
  double test_accuracy = 0;          // the theory's test accuracy at this point (as stored)
};

// InputError (exit 3) for a file that is not a theory file of `data`, a width or temperature not in its
// grid, or a point whose minimisation did not converge.
TheoryPoint read_theory_point(const std::string& theory, std::int64_t width, double temperature,
                              const std::string& selection, const Dataset& data, const Comm& comm);

}  // namespace attnpaths
