// Eigen matrices and the row-major arrays of core/linalg.hpp.
#pragma once

#include <Eigen/Dense>

#include <cstddef>
#include <vector>

namespace attnpaths {

using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The entries of M in row-major order: v[i·cols + j] = M(i, j).
inline std::vector<double> row_major(const Eigen::MatrixXd& M) {
  std::vector<double> v(static_cast<std::size_t>(M.size()));
  Eigen::Map<RowMajorMatrix>(v.data(), M.rows(), M.cols()) = M;
  return v;
}

// The [rows × cols] matrix stored row-major at v: M(i, j) = v[i·cols + j].
inline Eigen::Map<const RowMajorMatrix> from_row_major(const double* v, Eigen::Index rows, Eigen::Index cols) {
  return Eigen::Map<const RowMajorMatrix>(v, rows, cols);
}

}  // namespace attnpaths
