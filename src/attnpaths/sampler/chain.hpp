// One Markov chain: NUTS transitions with Stan's warm-up (step-size dual averaging, windowed diagonal
// or dense metric), and its complete state for exact checkpoint/resume.
//
// Dense metric: with the adapted covariance Σ = L Lᵀ (the inverse metric), NUTS with kinetic energy
// ½ pᵀ Σ p and p ~ N(0, Σ⁻¹) on q is the same Hamiltonian flow as NUTS with the unit metric on the
// whitened coordinates x = L⁻¹ q (p_x = Lᵀ p, and the U-turn products p♯·ρ are equal). The chain runs
// it that way: two triangular products per gradient (q = L x, ∇_x = Lᵀ ∇_q), O(n²), no other cost.
#pragma once

#include <cstdint>
#include <vector>

#include "attnpaths/core/rng.hpp"
#include "attnpaths/sampler/adaptation.hpp"
#include "attnpaths/sampler/nuts.hpp"
#include "attnpaths/sampler/posterior.hpp"

namespace attnpaths {

// Random streams of the sampler (core/rng.hpp).
namespace rng_domain {
inline constexpr RngDomain sampler{4};              // one stream per chain (index = chain)
}  // namespace rng_domain

struct ChainOptions {
  bool dense_metric = false;  // Stan's dense_e metric (covariance adapted in the slow windows)
  std::int64_t warmup = 1000;
  std::int64_t draws = 1000;
  double target_accept = 0.8;
  double initial_step_size = 1.0;
  NutsOptions nuts;
};

// Everything a chain needs to continue bit for bit (docs/files.md §3 /checkpoint).
struct ChainState {
  std::int64_t iteration = 0;  // iterations done (warm-up + draws)
  std::vector<double> position;
  RandomStream::State rng;
  double step_size = 0;
  StepSizeAdaptation::State step_adaptation;
  WindowedVarianceAdaptation::State window;
  std::vector<double> inv_metric, welford_mean, welford_m2;  // inv_metric, m2: n (diagonal) or n×n (dense)
  std::int64_t gradient_evaluations = 0;
};

// log p(L x) and its gradient Lᵀ ∇ log p(L x) for a lower-triangular L [n×n] (the dense metric's factor).
class WhitenedDensity : public LogDensity {
 public:
  WhitenedDensity(LogDensity& target, const std::vector<double>& factor);
  std::int64_t dimension() const override { return target_.dimension(); }
  double evaluate(const double* x, double* grad) override;

 private:
  LogDensity& target_;
  const std::vector<double>& factor_;
  std::vector<double> q_, g_;
};

class Chain {
 public:
  // The chain's random stream is keyed by (seed, rng_domain::sampler, chain): never by rank.
  Chain(LogDensity& target, const ChainOptions& options, std::uint64_t seed, int chain);
  // Iteration 0: initial point drawn from the prior, unit metric, Stan's step-size search.
  void initialise();
  // One iteration (with adaptation while warming up); returns its statistics.
  NutsStats iterate();

  std::int64_t iteration() const { return iteration_; }
  bool warming_up() const { return iteration_ < options_.warmup; }
  bool done() const { return iteration_ >= options_.warmup + options_.draws; }
  const std::vector<double>& position() const { return q_; }
  double step_size() const { return step_size_; }
  RandomStream& rng() { return rng_; }
  const std::vector<double>& inv_metric() const { return inv_metric_; }  // n, or n×n (dense)
  // Entries of the stored inverse metric for a target of `dimension` coordinates.
  static constexpr std::int64_t max_dense_dimension = 8192;
  static std::int64_t metric_size(std::int64_t dimension, bool dense) { return dense ? dimension * dimension : dimension; }
  std::int64_t gradient_evaluations() const { return target_.evaluations() + evaluations_offset_; }

  ChainState state();
  void restore(const ChainState& s);

 private:
  // Dense metric: L = chol(inv_metric_); x = L⁻¹ q_ (the whitened position NUTS moves).
  void factor_metric();
  NutsStats transition();
  double find_step_size(double step_size);

  LogDensity& target_;
  ChainOptions options_;
  RandomStream rng_;
  std::vector<double> factor_, unit_, x_;  // dense metric: L (n×n lower), ones (n), x
  WhitenedDensity whitened_;
  Nuts nuts_;
  StepSizeAdaptation step_adaptation_;
  WindowedVarianceAdaptation window_;
  std::vector<double> q_, inv_metric_;
  double step_size_ = 1;
  std::int64_t iteration_ = 0;
  std::int64_t evaluations_offset_ = 0;
};

}  // namespace attnpaths
