#include "attnpaths/sampler/posterior.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/index.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/linalg.hpp"
#include "attnpaths/core/petsc.hpp"

namespace attnpaths {

void LogDensity::draw_initial(RandomStream& rng, double* theta) const {
  for (std::size_t i = 0; i < prior_sd_.size(); ++i) theta[i] = prior_sd_[i] * rng.normal();
}

PathInputs redistribute_rows(const PathInputs& in, Range rows, const Comm& shard) {
  // The input rows are contiguous blocks in rank order (block_range of the dataset reader).
  std::vector<double> begins = shard.allgather_blocks({double(in.local.begin), double(in.local.end)});
  for (int r = 0; r + 1 < shard.size(); ++r)
    ATTN_REQUIRE(begins[sz(2 * r + 1)] == begins[sz(2 * r + 2)], LibraryError,
                 "internal: path inputs of '{}' are not split in rank order", in.set_name);
  std::vector<double> xt = shard.allgather_blocks(in.xt), y = shard.allgather_blocks(in.y);
  PathInputs out;
  out.set_name = in.set_name;
  out.count = in.count;
  out.local = rows;
  out.paths = in.paths;
  out.dim = in.dim;
  const std::size_t row = sz(in.paths) * sz(in.dim);
  out.xt.assign(xt.begin() + static_cast<std::ptrdiff_t>(sz(rows.begin) * row),
                xt.begin() + static_cast<std::ptrdiff_t>(sz(rows.end) * row));
  out.y.assign(y.begin() + rows.begin, y.begin() + rows.end);
  return out;
}

// ------------------------------------------------------------------------------------------ joint

JointPosterior::JointPosterior(const Architecture& shape, double temperature, PathInputs train,
                               const ExampleBlocks& blocks)
    : shape_(shape), temperature_(temperature), train_(std::move(train)), blocks_(blocks), net_(shape) {
  ATTN_REQUIRE(temperature > 0 && std::isfinite(temperature), InputError, "temperature must be positive (got {})",
               temperature);
  ATTN_REQUIRE(train_.paths == shape.paths() && train_.dim == shape.input_dim, InputError,
               "path inputs have {} paths × {} features, the network {} × {}", train_.paths, train_.dim,
               shape.paths(), shape.input_dim);
  ATTN_REQUIRE(train_.local.begin == blocks.local().begin && train_.local.end == blocks.local().end, LibraryError,
               "internal: path inputs rows [{}, {}) differ from the shard's canonical rows [{}, {})", train_.local.begin,
               train_.local.end, blocks.local().begin, blocks.local().end);
  const std::size_t m = sz(shape.paths()) * sz(shape.input_dim);
  u_.assign(m, 0.0);
  du_.assign(m + 1, 0.0);
  f_.assign(sz(train_.local.size()), 0.0);
  partials_.assign(sz(blocks.local_blocks()) * (m + 1), 0.0);
  prior_sd_.resize(sz(shape.size()));
  for (std::int64_t i = 0; i < shape.size(); ++i) prior_sd_[sz(i)] = std::sqrt(shape.prior_variance(i));
}

// docs/model.md §2 with §4's path factorisation: f_μ = Σ_π u_π·x̃^μ_π, r_μ = (y_μ − f_μ)/Temp,
// ∂ log p/∂u_π = g_π = Σ_μ r_μ x̃^μ_π, then backward through u = W V0/sqrt(w0 N0 H_tot) and the W chain.
double JointPosterior::evaluate(const double* theta, double* grad) {
  ++evaluations_;
  const int H = shape_.paths(), N0 = shape_.input_dim;
  const int m = H * N0;
  net_.forward_path_weights(theta);
  net_.path_readouts(theta, u_.data());
  const std::int64_t base = train_.local.begin;
  PathNetwork::predict(u_.data(), train_.xt.data(), train_.local.size(), H, N0, f_.data());
  std::fill(partials_.begin(), partials_.end(), 0.0);
  for (int b = 0; b < blocks_.local_blocks(); ++b) {
    double* part = partials_.data() + sz(b) * sz(m + 1);
    const Range rows = blocks_.block(b);
    for (std::int64_t mu = rows.begin; mu < rows.end; ++mu) {
      const std::int64_t i = mu - base;
      const double res = train_.y[sz(i)] - f_[sz(i)];
      const double r = res / temperature_;
      const double* x = train_.row(i);
      for (int j = 0; j < m; ++j) part[j] += r * x[j];
      part[m] += res * res;
    }
  }
  blocks_.reduce(partials_, m + 1, du_.data());
  // forward and backward through the path weights and V0, the predictions and the data-fit sums, the prior
  petsc::log_flops(3 * (net_.path_weight_flops() + net_.readout_flops()) +
                   4.0 * static_cast<double>(train_.local.size()) * m + 2.0 * static_cast<double>(shape_.size()));
  return -0.5 * du_[sz(m)] / temperature_ + net_.prior_and_backward_readouts(theta, du_.data(), grad);
}

void JointPosterior::observe(const double* theta, double* U, double* u) {
  net_.forward_path_weights(theta);
  net_.order_parameter(U);
  net_.path_readouts(theta, u);
}

// ------------------------------------------------------------------------------------------ V0-marginal

MarginalPosterior::MarginalPosterior(const Architecture& shape, double temperature, const PathInputs& train,
                                     Coordinates coordinates, KernelForm form)
    : shape_(shape), coordinates_(coordinates), temperature_(temperature), train_(train),
      self_(Comm::view(MPI_COMM_SELF)), net_(shape, false) {
  if (coordinates == Coordinates::path_weights) {
    factors_ = std::make_unique<PathWeightFactors>(shape);
    dimension_ = factors_->size();
  } else {
    dimension_ = shape.size() - shape.v0_size();
  }
  ATTN_REQUIRE(temperature > 0 && std::isfinite(temperature), InputError, "temperature must be positive (got {})",
               temperature);
  ATTN_REQUIRE(train.local.begin == 0 && train.local.end == train.count, LibraryError,
               "internal: the V0-marginal posterior needs every training example on every shard");
  P_ = static_cast<int>(train.count);
  H_ = shape.paths();
  N0_ = shape.input_dim;
  ATTN_REQUIRE(train.paths == H_ && train.dim == N0_, InputError,
               "path inputs have {} paths × {} features, the network {} × {}", train.paths, train.dim, H_, N0_);
  if (form == KernelForm::automatic)
    form = path_pair_bytes(P_, H_) <= path_pair_budget
               ? KernelForm::path_pairs
               : resolve_kernel_form(form, P_, H_, static_cast<std::int64_t>(H_) * N0_);
  kernel_ = make_renormalized_kernel(form, train_, shape.variances[0], self_);
  U_.assign(sz(H_) * sz(H_), 0.0);
  dW_.assign(sz(H_) * sz(shape.width(0)), 0.0);
  prior_sd_.resize(sz(dimension()));
  for (std::int64_t i = 0; i < dimension(); ++i)
    prior_sd_[sz(i)] = factors_ ? factors_->prior_sd(i) : std::sqrt(shape.prior_variance(i + shape.v0_size()));
}

const std::vector<double>& MarginalPosterior::path_weights(const double* theta) {
  return factors_ ? factors_->forward(theta) : net_.forward_path_weights(theta);
}

const std::vector<double>& MarginalPosterior::factor(const double* theta) {
  const int w0 = shape_.width(0);
  const auto& W = path_weights(theta);
  linalg::gemm(false, true, H_, H_, w0, 1.0 / w0, W.data(), w0, W.data(), w0, 0.0, U_.data(), H_);
  try {
    kernel_->factor(Eigen::Map<const Eigen::MatrixXd>(U_.data(), H_, H_), temperature_);  // U^s symmetric
  } catch (const NumericalError& e) {
    throw NumericalError(fmt::format("v0-marginal posterior: {}", e.what()));
  }
  return W;
}

// log N(y; 0, K_T) = −½ E, E = log det K_T + yᵀ K_T⁻¹ y (docs/model.md §3.1, §3.3); ∂E/∂U from the kernel
// (docs/model.md §3.4); U^s = W Wᵀ/w0 ⇒ ∂(−½E)/∂W = −(∂E/∂U) W / w0.
double MarginalPosterior::evaluate(const double* theta, double* grad) {
  ++evaluations_;
  const int w0 = shape_.width(0);
  const auto& W = factor(theta);
  const double energy = kernel_->log_det() + kernel_->data_fit();
  const Eigen::MatrixXd dE = kernel_->energy_gradient();  // symmetric: its storage order does not matter
  linalg::gemm(false, false, H_, w0, H_, -1.0 / w0, dE.data(), H_, W.data(), w0, 0.0, dW_.data(), w0);
  double prior = 0;
  if (factors_) {
    prior = factors_->log_prior(theta, grad, true);
    factors_->backward(theta, dW_.data(), grad);
  } else {
    prior = net_.prior_and_backward_path_weights(theta, dW_.data(), grad);  // θ holds no V0
  }
  // W forward and backward, U^s and ∂/∂W (the kernel counts its own work)
  petsc::log_flops((factors_ ? 4 * factors_->forward_flops() : 3 * net_.path_weight_flops()) + 4.0 * H_ * H_ * w0);
  return -0.5 * energy + prior;
}

void MarginalPosterior::observe(const double* theta, RandomStream& rng, double* U, double* u) {
  const int w0 = shape_.width(0);
  const auto& W = factor(theta);
  std::copy(U_.begin(), U_.end(), U);
  // u_prior = W V0 / sqrt(w0 N0 H) with V0 ~ N(0, σ0²): drawn through an explicit V0.
  std::vector<double> v0(sz(w0) * sz(N0_));
  const double sd0 = std::sqrt(shape_.variances[0]);
  for (auto& v : v0) v = sd0 * rng.normal();
  linalg::gemm(false, false, H_, N0_, w0, 1.0 / std::sqrt(double(w0) * N0_ * H_), W.data(), w0, v0.data(), N0_, 0.0,
               u, N0_);
  std::vector<double> f(sz(P_)), beta(sz(P_));
  PathNetwork::predict(u, train_.xt.data(), P_, H_, N0_, f.data());
  const double sdT = std::sqrt(temperature_);
  for (int i = 0; i < P_; ++i) beta[sz(i)] = train_.y[sz(i)] - f[sz(i)] - sdT * rng.normal();
  beta = kernel_->solve(beta);
  // u += (σ0²/(N0 H)) U (X̃ᵀ β)
  std::vector<double> xb(sz(H_) * sz(N0_), 0.0);
  linalg::gemm(true, false, 1, H_ * N0_, P_, 1.0, beta.data(), 1, train_.xt.data(), H_ * N0_, 0.0, xb.data(), H_ * N0_);
  linalg::gemm(false, false, H_, N0_, H_, shape_.variances[0] / (double(N0_) * H_), U, H_, xb.data(), N0_, 1.0, u, N0_);
}

}  // namespace attnpaths
