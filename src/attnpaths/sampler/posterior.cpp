#include "attnpaths/sampler/posterior.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/linalg.hpp"

namespace attnpaths {

namespace {
std::size_t sz(std::int64_t n) { return static_cast<std::size_t>(n); }

}  // namespace

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

JointPosterior::JointPosterior(const NetworkShape& shape, double temperature, PathInputs train,
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
  return -0.5 * du_[sz(m)] / temperature_ + net_.prior_and_backward_readouts(theta, du_.data(), grad);
}

void JointPosterior::observe(const double* theta, double* U, double* u) {
  net_.forward_path_weights(theta);
  net_.order_parameter(U);
  net_.path_readouts(theta, u);
}

// ------------------------------------------------------------------------------------------ V0-marginal

MarginalPosterior::MarginalPosterior(const NetworkShape& shape, double temperature, const PathInputs& train,
                                     Coordinates coordinates)
    : shape_(shape), coordinates_(coordinates), temperature_(temperature), net_(shape, false) {
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
  xt_ = train.xt;
  y_ = train.y;
  xi_scale2_ = shape.variances[0] / (double(N0_) * H_);  // ξ = sqrt(σ0²/(N0 H_tot)) x̃ (docs/model.md §1.3)
  work_.assign(sz(P_) * sz(H_) * sz(N0_), 0.0);
  U_.assign(sz(H_) * sz(H_), 0.0);
  D_.assign(U_.size(), 0.0);
  dW_.assign(sz(H_) * sz(shape.widths[0]), 0.0);
  prior_sd_.resize(sz(dimension()));
  for (std::int64_t i = 0; i < dimension(); ++i)
    prior_sd_[sz(i)] = factors_ ? factors_->prior_sd(i) : std::sqrt(shape.prior_variance(i + shape.v0_size()));
}

const std::vector<double>& MarginalPosterior::path_weights(const double* theta) {
  return factors_ ? factors_->forward(theta) : net_.forward_path_weights(theta);
}

void MarginalPosterior::kernel(const double* U, std::vector<double>& K) {
  // K = s² X̃ (U ⊗ I) X̃^T: every row's H×N0 block times U, then one P×P×(H·N0) GEMM (docs/model.md §3.1, §7).
  const int r = H_ * N0_;
  for (int mu = 0; mu < P_; ++mu)
    linalg::gemm(true, false, H_, N0_, H_, 1.0, U, H_, xt_.data() + sz(mu) * sz(r), N0_, 0.0,
                 work_.data() + sz(mu) * sz(r), N0_);
  K.resize(sz(P_) * sz(P_));
  linalg::gemm(false, true, P_, P_, r, xi_scale2_, work_.data(), r, xt_.data(), r, 0.0, K.data(), P_);
  for (int i = 0; i < P_; ++i) K[sz(i) * sz(P_) + sz(i)] += temperature_;
  if (!linalg::cholesky(P_, K.data(), P_))
    throw NumericalError("v0-marginal posterior: K(U^s) + Temp·I is not positive definite");
}

// log N(y; 0, K_T) = −½ log det K_T − ½ yᵀ K_T⁻¹ y (+ const), K_T = K(U^s) + Temp·I (docs/model.md §3.1, §3.3);
// ∂/∂U_ππ' = −½ Σ_μν G_μν C^{μν}_ππ' = −½ Σ_i (Ξ_iᵀ G Ξ_i)_ππ', G = K_T⁻¹ − ααᵀ (docs/model.md §3.4);
// U^s = W Wᵀ/w0 ⇒ ∂/∂W = 2 D W / w0.
double MarginalPosterior::evaluate(const double* theta, double* grad) {
  ++evaluations_;
  const int w0 = shape_.widths[0];
  const auto& W = path_weights(theta);
  linalg::gemm(false, true, H_, H_, w0, 1.0 / w0, W.data(), w0, W.data(), w0, 0.0, U_.data(), H_);
  kernel(U_.data(), K_);
  alpha_ = y_;
  linalg::cholesky_solve(P_, 1, K_.data(), P_, alpha_.data(), 1);
  double yKy = 0;
  for (int i = 0; i < P_; ++i) yKy += y_[sz(i)] * alpha_[sz(i)];
  const double logdet = linalg::cholesky_logdet(P_, K_.data(), P_);
  Kinv_.resize(K_.size());
  linalg::cholesky_inverse(P_, K_.data(), P_, Kinv_.data(), P_);
  for (int i = 0; i < P_; ++i)
    for (int j = 0; j < P_; ++j) Kinv_[sz(i) * sz(P_) + sz(j)] -= alpha_[sz(i)] * alpha_[sz(j)];  // G
  // Y = G X̃ (P × H·N0), then D = −½ s² Σ_μ X̃_μ Y_μ^T over the rows' H×N0 blocks.
  const int r = H_ * N0_;
  linalg::gemm(false, false, P_, r, P_, 1.0, Kinv_.data(), P_, xt_.data(), r, 0.0, work_.data(), r);
  std::fill(D_.begin(), D_.end(), 0.0);
  for (int mu = 0; mu < P_; ++mu)
    linalg::gemm(false, true, H_, H_, N0_, -0.5 * xi_scale2_, xt_.data() + sz(mu) * sz(r), N0_,
                 work_.data() + sz(mu) * sz(r), N0_, 1.0, D_.data(), H_);
  linalg::gemm(false, false, H_, w0, H_, 2.0 / w0, D_.data(), H_, W.data(), w0, 0.0, dW_.data(), w0);
  double prior = 0;
  if (factors_) {
    prior = factors_->log_prior(theta, grad, true);
    factors_->backward(theta, dW_.data(), grad);
  } else {
    prior = net_.prior_and_backward_path_weights(theta, dW_.data(), grad);  // θ holds no V0
  }
  return -0.5 * logdet - 0.5 * yKy + prior;
}

void MarginalPosterior::observe(const double* theta, RandomStream& rng, double* U, double* u) {
  const int w0 = shape_.widths[0];
  const auto& W = path_weights(theta);
  linalg::gemm(false, true, H_, H_, w0, 1.0 / w0, W.data(), w0, W.data(), w0, 0.0, U, H_);
  // u_prior = W V0 / sqrt(w0 N0 H) with V0 ~ N(0, σ0²): drawn through an explicit V0.
  std::vector<double> v0(sz(w0) * sz(N0_));
  const double sd0 = std::sqrt(shape_.variances[0]);
  for (auto& v : v0) v = sd0 * rng.normal();
  linalg::gemm(false, false, H_, N0_, w0, 1.0 / std::sqrt(double(w0) * N0_ * H_), W.data(), w0, v0.data(), N0_, 0.0,
               u, N0_);
  std::vector<double> f(sz(P_)), beta(sz(P_));
  PathNetwork::predict(u, xt_.data(), P_, H_, N0_, f.data());
  const double sdT = std::sqrt(temperature_);
  for (int i = 0; i < P_; ++i) beta[sz(i)] = y_[sz(i)] - f[sz(i)] - sdT * rng.normal();
  kernel(U, K_);
  linalg::cholesky_solve(P_, 1, K_.data(), P_, beta.data(), 1);
  // u += (σ0²/(N0 H)) U (X̃ᵀ β)
  std::vector<double> xb(sz(H_) * sz(N0_), 0.0);
  const std::size_t m = xb.size();
  for (int mu = 0; mu < P_; ++mu) {
    const double* x = xt_.data() + sz(mu) * m;
    for (std::size_t j = 0; j < m; ++j) xb[j] += beta[sz(mu)] * x[j];
  }
  linalg::gemm(false, false, H_, N0_, H_, shape_.variances[0] / (double(N0_) * H_), U, H_, xb.data(), N0_, 1.0, u, N0_);
}

}  // namespace attnpaths
