#include "attnpaths/predict/predictor.hpp"

#include <cmath>

namespace attnpaths {

PredictorStatistics predictor_statistics(RenormalizedKernel& kernel, const PathInputs& set, const Comm& comm) {
  PredictorStatistics s;
  PredictorMoments m = kernel.predict(set);
  const ScoreSums local = score_sums(m.mean, m.var, set.y);
  std::vector<double> sums{local.correct, local.squared_error, local.variance};
  comm.sum(sums);
  const double n = static_cast<double>(set.count);
  s.accuracy = set.count ? sums[0] / n : std::nan("");
  s.bias = set.count ? sums[1] / n : std::nan("");
  s.variance = set.count ? sums[2] / n : std::nan("");
  s.mean = std::move(m.mean);
  s.var = std::move(m.var);
  return s;
}

ScoreSums score_sums(const std::vector<double>& mean, const std::vector<double>& var, const std::vector<double>& y) {
  ScoreSums s;
  for (std::size_t i = 0; i < mean.size(); ++i) {
    const double f = mean[i];
    if ((f > 0 && y[i] > 0) || (f < 0 && y[i] < 0)) s.correct += 1;
    s.squared_error += (f - y[i]) * (f - y[i]);
    if (!var.empty()) s.variance += var[i];
  }
  return s;
}

Eigen::MatrixXd diagonal_only(const Eigen::MatrixXd& U1) { return U1.diagonal().asDiagonal(); }

}  // namespace attnpaths
