#include "attnpaths/sampler/chain.hpp"

#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/linalg.hpp"

namespace attnpaths {

WhitenedDensity::WhitenedDensity(LogDensity& target, const std::vector<double>& factor)
    : target_(target), factor_(factor), q_(static_cast<std::size_t>(target.dimension())), g_(q_.size()) {}

double WhitenedDensity::evaluate(const double* x, double* grad) {
  // q = L x, ∇_x log p = Lᵀ ∇_q log p (row-major L: q_i = Σ_{j≤i} L_ij x_j).
  const int n = static_cast<int>(q_.size());
  linalg::gemm(false, false, n, 1, n, 1.0, factor_.data(), n, x, 1, 0.0, q_.data(), 1);
  const double lp = target_.evaluate(q_.data(), g_.data());
  linalg::gemm(true, false, n, 1, n, 1.0, factor_.data(), n, g_.data(), 1, 0.0, grad, 1);
  return lp;
}

Chain::Chain(LogDensity& target, const ChainOptions& options, std::uint64_t seed, int chain)
    : target_(target),
      options_(options),
      rng_(seed, rng_domain::sampler, static_cast<std::uint64_t>(chain)),
      whitened_(target, factor_),
      nuts_(options.dense_metric ? static_cast<LogDensity&>(whitened_) : target, options.nuts),
      window_(options.warmup, target.dimension(), 75, 50, 25, options.dense_metric) {
  ATTN_REQUIRE(options.target_accept > 0 && options.target_accept < 1, InputError,
               "target acceptance must lie in (0, 1) (got {})", options.target_accept);
  ATTN_REQUIRE(options.warmup >= 0 && options.draws >= 1, InputError, "need warm-up ≥ 0 and draws ≥ 1 (got {}, {})",
               options.warmup, options.draws);
  step_adaptation_.target = options.target_accept;
  const std::int64_t n = target.dimension();
  ATTN_REQUIRE(!options.dense_metric || n <= max_dense_dimension, InputError,
               "--metric dense: the target has {} coordinates, the dense metric supports at most {} (its n×n "
               "covariance costs O(n²) per gradient); use --metric diag",
               n, max_dense_dimension);
  q_.assign(static_cast<std::size_t>(n), 0.0);
  if (options.dense_metric) {
    inv_metric_.assign(q_.size() * q_.size(), 0.0);
    for (std::size_t i = 0; i < q_.size(); ++i) inv_metric_[i * q_.size() + i] = 1.0;
    unit_.assign(q_.size(), 1.0);
    factor_metric();
  } else {
    inv_metric_.assign(q_.size(), 1.0);
  }
}

void Chain::factor_metric() {
  factor_ = inv_metric_;
  const int n = static_cast<int>(q_.size());
  if (!linalg::cholesky(n, factor_.data(), n))
    throw NumericalError("the adapted dense metric (covariance of the warm-up draws) is not positive definite");
}

NutsStats Chain::transition() {
  if (!options_.dense_metric) return nuts_.transition(q_, step_size_, inv_metric_, rng_);
  // x = L⁻¹ q, one transition in x with the unit metric, q = L x.
  const int n = static_cast<int>(q_.size());
  x_ = q_;
  linalg::lower_solve(n, 1, factor_.data(), n, x_.data(), 1);
  NutsStats s = nuts_.transition(x_, step_size_, unit_, rng_);
  linalg::gemm(false, false, n, 1, n, 1.0, factor_.data(), n, x_.data(), 1, 0.0, q_.data(), 1);
  return s;
}

double Chain::find_step_size(double step_size) {
  if (!options_.dense_metric) return nuts_.find_step_size(q_, step_size, inv_metric_, rng_);
  const int n = static_cast<int>(q_.size());
  x_ = q_;
  linalg::lower_solve(n, 1, factor_.data(), n, x_.data(), 1);
  return nuts_.find_step_size(x_, step_size, unit_, rng_);
}

namespace {
bool all_finite(const std::vector<double>& v) {
  for (double x : v)
    if (!std::isfinite(x)) return false;
  return true;
}
}  // namespace

void Chain::initialise() {
  target_.draw_initial(rng_, q_.data());
  // A non-finite log density or gradient at the start is a numerical failure, never a chain to run.
  std::vector<double> grad(q_.size());
  const double lp = target_.evaluate(q_.data(), grad.data());
  ATTN_REQUIRE(std::isfinite(lp) && all_finite(grad) && all_finite(q_), NumericalError,
               "the log density at the chain's initial point is {} (gradient {}finite): the data or options overflow "
               "double precision (e.g. huge inputs or temperature)",
               lp, all_finite(grad) ? "" : "not ");
  step_size_ = find_step_size(options_.initial_step_size);
  step_adaptation_.set_mu(std::log(10 * step_size_));
  step_adaptation_.restart();
  iteration_ = 0;
}

NutsStats Chain::iterate() {
  const bool warmup = warming_up();
  NutsStats s = transition();
  if (warmup) {
    step_size_ = step_adaptation_.learn(s.accept_stat);
    if (window_.learn(q_, inv_metric_)) {
      if (options_.dense_metric) factor_metric();
      step_size_ = find_step_size(step_size_);
      step_adaptation_.set_mu(std::log(10 * step_size_));
      step_adaptation_.restart();
    }
  }
  ++iteration_;
  if (warmup && iteration_ == options_.warmup) step_size_ = step_adaptation_.final_step_size();
  // NaN or Inf anywhere is an error, never a stored draw.
  ATTN_REQUIRE(std::isfinite(s.log_density) && std::isfinite(s.energy) && std::isfinite(step_size_) && step_size_ > 0 &&
                   all_finite(q_),
               NumericalError,
               "NUTS iteration {}: log density {}, energy {}, step size {}{}: the posterior is not finite (data or "
               "options overflow double precision)",
               iteration_, s.log_density, s.energy, step_size_, all_finite(q_) ? "" : ", position not finite");
  return s;
}

ChainState Chain::state() {
  ChainState s;
  s.iteration = iteration_;
  s.position = q_;
  s.rng = rng_.state();
  s.step_size = step_size_;
  s.step_adaptation = step_adaptation_.state();
  s.window = window_.state();
  s.inv_metric = inv_metric_;
  if (warming_up()) {
    s.welford_mean = window_.mean();
    s.welford_m2 = window_.m2();
  }
  s.gradient_evaluations = gradient_evaluations();
  return s;
}

void Chain::restore(const ChainState& s) {
  const auto n = q_.size();
  ATTN_REQUIRE(s.position.size() == n && s.inv_metric.size() == inv_metric_.size(), InputError,
               "checkpoint holds a chain of dimension {} (metric of {} entries), this run has {} ({})", s.position.size(),
               s.inv_metric.size(), n, inv_metric_.size());
  iteration_ = s.iteration;
  q_ = s.position;
  rng_.set_state(s.rng);
  step_size_ = s.step_size;
  step_adaptation_.set_state(s.step_adaptation);
  window_.set_state(s.window);
  inv_metric_ = s.inv_metric;
  if (options_.dense_metric) factor_metric();
  if (warming_up()) {
    ATTN_REQUIRE(s.welford_mean.size() == n && s.welford_m2.size() == inv_metric_.size(), InputError,
                 "checkpoint taken during warm-up lacks the metric estimator");
    window_.mean() = s.welford_mean;
    window_.m2() = s.welford_m2;
  }
  evaluations_offset_ = s.gradient_evaluations - target_.evaluations();
}

}  // namespace attnpaths
