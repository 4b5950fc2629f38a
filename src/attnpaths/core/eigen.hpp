// Eigen matrices and the row-major arrays of core/linalg.hpp.
#pragma once

#include <Eigen/Dense>

#include <cstddef>
#include <vector>

namespace attnpaths {

// The entries of M in row-major order: v[i·cols + j] = M(i, j).
inline std::vector<double> row_major(const Eigen::MatrixXd& M) {
  std::vector<double> v(static_cast<std::size_t>(M.size()));
  Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(v.data(), M.rows(), M.cols()) = M;
  return v;
}

}  // namespace attnpaths
