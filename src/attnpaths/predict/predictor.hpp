// Predictor statistics (docs/model.md §3.6) on one example set for the U_1 the kernel was last
// factorised with: mean and variance per example (local rows), and over the whole set the
// accuracy (sign f̄ = y; f̄ = 0 counts as wrong), bias = mean (f̄ − y)², variance = mean σ².
#pragma once

#include <Eigen/Dense>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"

namespace attnpaths {

struct PredictorStatistics {
  std::vector<double> mean, var;  // local rows of the set
  double accuracy = 0, bias = 0, variance = 0;
  double error() const { return bias + variance; }  // generalisation error
};

// The scores of predictions f̄ against targets y, summed over examples: correct signs (f̄ and y of the
// same sign; f̄ = 0 counts as wrong), Σ (f̄ − y)² and Σ σ² (no σ²: 0). Ranks add their sums; divided by
// the number of examples they are the accuracy, bias and variance.
struct ScoreSums {
  double correct = 0, squared_error = 0, variance = 0;
};
ScoreSums score_sums(const std::vector<double>& mean, const std::vector<double>& var, const std::vector<double>& y);

PredictorStatistics predictor_statistics(RenormalizedKernel& kernel, const PathInputs& set, const Comm& comm);

// The order parameter with its off-diagonal zeroed ("diagonal only": no cross-path terms).
Eigen::MatrixXd diagonal_only(const Eigen::MatrixXd& U1);

}  // namespace attnpaths
