// Synthetic path inputs for theory tests: x̃ ~ N(0,1) plus a label-correlated direction, keyed by
// example index (rank-count independent), sharded like real data.
#pragma once

#include <Eigen/Dense>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/model/path_inputs.hpp"
#include "attnpaths/theory/order_parameters.hpp"

namespace attnpaths::test {

PathInputs synthetic_path_inputs(std::int64_t count, int paths, int dim, const Comm& comm, std::uint64_t seed,
                                 const std::string& name = "train");
// Every row of `set` gathered on one rank's view (for dense reference computations): [count, paths*dim].
Eigen::MatrixXd gather_rows(const PathInputs& set, const Comm& comm);
Eigen::VectorXd gather_targets(const PathInputs& set, const Comm& comm);
// A random symmetric positive-definite matrix (well conditioned).
Eigen::MatrixXd random_spd(int n, std::uint64_t seed);
// Random positive-definite order parameters for an architecture.
OrderParameters random_order_parameters(const Architecture& arch, std::uint64_t seed);

}  // namespace attnpaths::test
