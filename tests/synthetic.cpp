#include "synthetic.hpp"

#include "attnpaths/core/rng.hpp"
#include "test_support.hpp"

namespace attnpaths::test {

PathInputs synthetic_path_inputs(std::int64_t count, int paths, int dim, const Comm& comm, std::uint64_t seed,
                                 const std::string& name) {
  PathInputs p;
  p.set_name = name;
  p.count = count;
  p.local = block_range(count, comm.rank(), comm.size());
  p.paths = paths;
  p.dim = dim;
  const std::size_t row = static_cast<std::size_t>(paths * dim);
  p.xt.resize(static_cast<std::size_t>(p.local.size()) * row);
  p.y.resize(static_cast<std::size_t>(p.local.size()));
  for (std::int64_t mu = p.local.begin; mu < p.local.end; ++mu) {
    RandomStream rng(seed, rng_domain::test, static_cast<std::uint64_t>(mu));
    const double label = mu < count / 2 ? 1.0 : -1.0;
    const std::size_t off = static_cast<std::size_t>(mu - p.local.begin) * row;
    for (std::size_t j = 0; j < row; ++j) p.xt[off + j] = rng.normal();
    // paths differ in how informative they are: path 0 carries the label most strongly
    for (int pi = 0; pi < paths; ++pi) p.xt[off + static_cast<std::size_t>(pi * dim)] += 2.0 * label / (1.0 + pi);
    p.y[static_cast<std::size_t>(mu - p.local.begin)] = label;
  }
  return p;
}

Eigen::MatrixXd gather_rows(const PathInputs& set, const Comm& comm) {
  const auto all = comm.allgather_blocks(set.xt);
  const Eigen::Index r = set.paths * set.dim;
  Eigen::MatrixXd X(set.count, r);
  for (Eigen::Index i = 0; i < set.count; ++i)
    for (Eigen::Index j = 0; j < r; ++j) X(i, j) = all[static_cast<size_t>(i * r + j)];
  return X;
}

Eigen::VectorXd gather_targets(const PathInputs& set, const Comm& comm) {
  const auto all = comm.allgather_blocks(set.y);
  return Eigen::Map<const Eigen::VectorXd>(all.data(), static_cast<Eigen::Index>(all.size()));
}

Eigen::MatrixXd random_spd(int n, std::uint64_t seed) {
  RandomStream rng(seed, rng_domain::test, 1000);
  Eigen::MatrixXd A(n, n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) A(i, j) = rng.normal();
  return A * A.transpose() / n + 0.5 * Eigen::MatrixXd::Identity(n, n);
}

OrderParameters random_order_parameters(const Architecture& arch, std::uint64_t seed) {
  OrderParameters op;
  for (int l = 1; l <= arch.depth(); ++l) op.U.push_back(random_spd(arch.order(l), seed + static_cast<std::uint64_t>(l)));
  op.Ua = closed_form_Ua(arch, op.U.back());
  return op;
}

}  // namespace attnpaths::test
