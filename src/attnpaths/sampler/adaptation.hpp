// Warm-up adaptation as in Stan (stan/mcmc/stepsize_adaptation.hpp, windowed_adaptation.hpp,
// var_adaptation.hpp, covar_adaptation.hpp): dual averaging of the step size towards a target acceptance
// statistic, and a diagonal or dense inverse metric estimated from the draws of doubling slow windows.
#pragma once

#include <cstdint>
#include <vector>

namespace attnpaths {

// Nesterov dual averaging (Hoffman & Gelman 2014, §3.2) with Stan's constants.
class StepSizeAdaptation {
 public:
  struct State {
    double counter = 0, s_bar = 0, x_bar = 0, mu = 0;
  };
  double target = 0.8, gamma = 0.05, kappa = 0.75, t0 = 10;

  void set_mu(double mu) { state_.mu = mu; }
  void restart() { state_.counter = state_.s_bar = state_.x_bar = 0; }
  // Updates with an iteration's acceptance statistic; returns the next step size.
  double learn(double accept_stat);
  double final_step_size() const;  // exp(x̄) at the end of warm-up
  const State& state() const { return state_; }
  void set_state(const State& s) { state_ = s; }

 private:
  State state_;
};

// Stan's warm-up windows: an initial fast buffer (75), doubling slow windows starting at 25, a final
// fast buffer (50); for warm-ups shorter than 150 the buffers become 15% / 10% of the warm-up and the
// single slow window the rest; below 20 iterations the metric is not adapted.
class WindowedVarianceAdaptation {
 public:
  struct State {
    std::int64_t window_counter = 0, window_size = 0, next_window = 0;
    std::int64_t samples = 0;  // Welford estimator of the current window
  };
  WindowedVarianceAdaptation() = default;
  // dense: estimates the covariance (inv_metric n×n row-major) instead of the variances (n).
  WindowedVarianceAdaptation(std::int64_t warmup, std::int64_t dimension, std::int64_t init_buffer = 75,
                             std::int64_t term_buffer = 50, std::int64_t base_window = 25, bool dense = false);
  // After warm-up iteration `window_counter` with draw q: accumulates; at the end of a slow window
  // writes the regularised variance (covariance) into inv_metric and returns true:
  // (n/(n+5))·Σ̂ + 1e-3·(5/(n+5))·I, n the window's draws (Stan).
  bool learn(const std::vector<double>& q, std::vector<double>& inv_metric);

  bool adapting() const { return warmup_ >= 20; }
  bool dense() const { return dense_; }
  std::int64_t init_buffer() const { return init_buffer_; }
  std::int64_t term_buffer() const { return term_buffer_; }
  std::int64_t base_window() const { return base_window_; }

  // Checkpoint access.
  const State& state() const { return state_; }
  std::vector<double>& mean() { return mean_; }
  std::vector<double>& m2() { return m2_; }
  void set_state(const State& s) { state_ = s; }

 private:
  bool in_window() const;
  bool end_of_window() const;
  void next_window();
  void accumulate(const std::vector<double>& q);  // Welford: mean_, m2_ (n or n×n)
  std::int64_t warmup_ = 0, init_buffer_ = 0, term_buffer_ = 0, base_window_ = 0;
  bool dense_ = false;
  State state_;
  std::vector<double> mean_, m2_;
};

}  // namespace attnpaths
