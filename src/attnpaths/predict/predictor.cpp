#include "attnpaths/predict/predictor.hpp"

#include <cmath>

namespace attnpaths {

PredictorStatistics predictor_statistics(RenormalizedKernel& kernel, const PathInputs& set, const Comm& comm) {
  PredictorStatistics s;
  PredictorMoments m = kernel.predict(set);
  std::vector<double> sums{0.0, 0.0, 0.0};  // correct, Σ(f̄ − y)², Σσ²
  for (std::size_t i = 0; i < m.mean.size(); ++i) {
    const double f = m.mean[i], y = set.y[i];
    if (f * y > 0) sums[0] += 1;
    sums[1] += (f - y) * (f - y);
    sums[2] += m.var[i];
  }
  comm.sum(sums);
  const double n = static_cast<double>(set.count);
  s.accuracy = set.count ? sums[0] / n : std::nan("");
  s.bias = set.count ? sums[1] / n : std::nan("");
  s.variance = set.count ? sums[2] / n : std::nan("");
  s.mean = std::move(m.mean);
  s.var = std::move(m.var);
  return s;
}

Eigen::MatrixXd diagonal_only(const Eigen::MatrixXd& U1) { return U1.diagonal().asDiagonal(); }

}  // namespace attnpaths
