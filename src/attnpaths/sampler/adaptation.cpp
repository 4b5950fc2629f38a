#include "attnpaths/sampler/adaptation.hpp"

#include <cmath>

namespace attnpaths {

double StepSizeAdaptation::learn(double accept_stat) {
  State& s = state_;
  s.counter += 1;
  accept_stat = accept_stat > 1 ? 1 : accept_stat;
  const double eta = 1.0 / (s.counter + t0);
  s.s_bar = (1.0 - eta) * s.s_bar + eta * (target - accept_stat);
  const double x = s.mu - s.s_bar * std::sqrt(s.counter) / gamma;
  const double x_eta = std::pow(s.counter, -kappa);
  s.x_bar = (1.0 - x_eta) * s.x_bar + x_eta * x;
  return std::exp(x);
}

double StepSizeAdaptation::final_step_size() const { return std::exp(state_.x_bar); }

WindowedVarianceAdaptation::WindowedVarianceAdaptation(std::int64_t warmup, std::int64_t dimension,
                                                       std::int64_t init_buffer, std::int64_t term_buffer,
                                                       std::int64_t base_window, bool dense)
    : warmup_(warmup), init_buffer_(init_buffer), term_buffer_(term_buffer), base_window_(base_window), dense_(dense) {
  if (warmup_ >= 20 && init_buffer_ + base_window_ + term_buffer_ > warmup_) {
    init_buffer_ = static_cast<std::int64_t>(0.15 * double(warmup_));
    term_buffer_ = static_cast<std::int64_t>(0.1 * double(warmup_));
    base_window_ = warmup_ - (init_buffer_ + term_buffer_);
  }
  state_.window_counter = 0;
  state_.window_size = base_window_;
  state_.next_window = init_buffer_ + base_window_ - 1;
  mean_.assign(static_cast<std::size_t>(dimension), 0.0);
  m2_.assign(dense ? mean_.size() * mean_.size() : mean_.size(), 0.0);
}

bool WindowedVarianceAdaptation::in_window() const {
  const auto c = state_.window_counter;
  return c >= init_buffer_ && c < warmup_ - term_buffer_ && c != warmup_;
}

bool WindowedVarianceAdaptation::end_of_window() const {
  return state_.window_counter == state_.next_window && state_.window_counter != warmup_;
}

void WindowedVarianceAdaptation::next_window() {
  if (state_.next_window == warmup_ - term_buffer_ - 1) return;
  state_.window_size *= 2;
  state_.next_window = state_.window_counter + state_.window_size;
  if (state_.next_window != warmup_ - term_buffer_ - 1) {
    const std::int64_t boundary = state_.next_window + 2 * state_.window_size;
    if (boundary >= warmup_ - term_buffer_) state_.next_window = warmup_ - term_buffer_ - 1;
  }
}

void WindowedVarianceAdaptation::accumulate(const std::vector<double>& q) {
  // Welford's running (co)variance: m2 += (q − mean_new)(q − mean_old)ᵀ.
  state_.samples += 1;
  const double n = double(state_.samples);
  const std::size_t d = q.size();
  std::vector<double> delta(d);
  for (std::size_t i = 0; i < d; ++i) {
    delta[i] = q[i] - mean_[i];
    mean_[i] += delta[i] / n;
  }
  if (!dense_) {
    for (std::size_t i = 0; i < d; ++i) m2_[i] += (q[i] - mean_[i]) * delta[i];
    return;
  }
  for (std::size_t i = 0; i < d; ++i) {
    const double a = q[i] - mean_[i];
    double* row = m2_.data() + i * d;
    for (std::size_t j = 0; j < d; ++j) row[j] += a * delta[j];
  }
}

bool WindowedVarianceAdaptation::learn(const std::vector<double>& q, std::vector<double>& inv_metric) {
  if (!adapting()) return false;
  if (in_window()) accumulate(q);
  if (end_of_window()) {
    next_window();
    const double n = double(state_.samples);
    // Stan's regularisation towards 1e-3·I: (n/(n+5))·Σ̂ + 1e-3·5/(n+5)·I.
    const std::size_t d = q.size();
    for (std::size_t k = 0; k < m2_.size(); ++k) {
      const double cov = n > 1 ? m2_[k] / (n - 1) : 0.0;
      const bool diagonal = !dense_ || k % (d + 1) == 0;
      inv_metric[k] = (n / (n + 5.0)) * cov + (diagonal ? 1e-3 * (5.0 / (n + 5.0)) : 0.0);
      m2_[k] = 0;
    }
    if (dense_)  // symmetric to the bit (the Welford products are not)
      for (std::size_t i = 0; i < d; ++i)
        for (std::size_t j = 0; j < i; ++j) inv_metric[i * d + j] = inv_metric[j * d + i];
    for (double& m : mean_) m = 0;
    state_.samples = 0;
    ++state_.window_counter;
    return true;
  }
  ++state_.window_counter;
  return false;
}

}  // namespace attnpaths
