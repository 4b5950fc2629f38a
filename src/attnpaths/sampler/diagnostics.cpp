#include "attnpaths/sampler/diagnostics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace attnpaths::diagnostics {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

bool constant(const Draws& d) {
  for (const auto& c : d)
    for (double x : c)
      if (x != d[0][0]) return false;
  return true;
}

bool valid(const Draws& d, std::size_t min_draws) {
  if (d.empty() || d[0].size() < min_draws) return false;
  for (const auto& c : d) {
    if (c.size() != d[0].size()) return false;
    for (double x : c)
      if (!std::isfinite(x)) return false;
  }
  return !constant(d);
}

double mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }

double variance(const std::vector<double>& v, double ddof) {
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / (double(v.size()) - ddof);
}

}  // namespace

double normal_quantile(double p) {
  if (p <= 0) return -std::numeric_limits<double>::infinity();
  if (p >= 1) return std::numeric_limits<double>::infinity();
  // Acklam's rational approximation, then one Halley step on erfc (relative error ~1e-15).
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double plow = 0.02425;
  double x;
  if (p < plow) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - plow) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

double quantile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p * double(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  const double frac = pos - double(lo);
  return v[lo] + (v[hi] - v[lo]) * frac;
}

Draws split_chains(const Draws& chains) {
  Draws out;
  for (const auto& c : chains) {
    const std::size_t half = c.size() / 2;
    // Odd lengths drop the middle draw (ArviZ keeps the first and last halves).
    out.emplace_back(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(half));
    out.emplace_back(c.end() - static_cast<std::ptrdiff_t>(half), c.end());
  }
  return out;
}

Draws rank_normalise(const Draws& chains) {
  std::vector<std::pair<double, std::size_t>> all;
  for (std::size_t c = 0; c < chains.size(); ++c)
    for (std::size_t s = 0; s < chains[c].size(); ++s) all.emplace_back(chains[c][s], c * chains[0].size() + s);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const double S = double(all.size());
  Draws out(chains.size(), std::vector<double>(chains.empty() ? 0 : chains[0].size()));
  std::size_t i = 0;
  while (i < all.size()) {
    std::size_t j = i;
    while (j + 1 < all.size() && all[j + 1].first == all[i].first) ++j;
    const double rank = 0.5 * double(i + j) + 1.0;  // average of the 1-based ranks i+1 .. j+1
    const double z = normal_quantile((rank - 0.375) / (S + 0.25));
    for (std::size_t k = i; k <= j; ++k) {
      const std::size_t idx = all[k].second;
      out[idx / chains[0].size()][idx % chains[0].size()] = z;
    }
    i = j + 1;
  }
  return out;
}

double rhat_basic(const Draws& chains) {
  if (!valid(chains, 2)) return nan;
  const double n = double(chains[0].size());
  std::vector<double> means, vars;
  for (const auto& c : chains) {
    means.push_back(mean(c));
    vars.push_back(variance(c, 1));
  }
  const double B = chains.size() > 1 ? n * variance(means, 1) : 0.0;
  const double W = mean(vars);
  return std::sqrt((B / W + n - 1) / n);
}

double rhat(const Draws& chains) {
  if (!valid(chains, 4)) return nan;
  const double bulk = rhat_basic(rank_normalise(split_chains(chains)));
  std::vector<double> all;
  for (const auto& c : chains) all.insert(all.end(), c.begin(), c.end());
  const double med = quantile(all, 0.5);
  Draws folded = chains;
  for (auto& c : folded)
    for (auto& x : c) x = std::abs(x - med);
  const double tail = rhat_basic(rank_normalise(split_chains(folded)));
  return std::max(bulk, tail);
}

double ess_basic(const Draws& chains) {
  if (!valid(chains, 4)) return nan;
  const std::size_t m = chains.size(), n = chains[0].size();
  const double nd = double(n);
  std::vector<double> means(m);
  for (std::size_t c = 0; c < m; ++c) means[c] = mean(chains[c]);
  // Biased autocovariance of each chain at lag t, averaged over chains (computed lazily).
  auto acov = [&](std::size_t t) {
    double s = 0;
    for (std::size_t c = 0; c < m; ++c) {
      const auto& x = chains[c];
      double a = 0;
      for (std::size_t i = 0; i + t < n; ++i) a += (x[i] - means[c]) * (x[i + t] - means[c]);
      s += a / nd;
    }
    return s / double(m);
  };
  const double mean_var = acov(0) * nd / (nd - 1);
  double var_plus = mean_var * (nd - 1) / nd;
  if (m > 1) var_plus += variance(means, 1);
  std::vector<double> rho(n, 0.0);
  double rho_even = 1, rho_odd = 1 - (mean_var - acov(1)) / var_plus;
  rho[0] = rho_even;
  rho[1] = rho_odd;
  // Geyer's initial positive sequence.
  std::size_t t = 1;
  while (t + 3 < n && rho_even + rho_odd > 0) {
    rho_even = 1 - (mean_var - acov(t + 1)) / var_plus;
    rho_odd = 1 - (mean_var - acov(t + 2)) / var_plus;
    if (rho_even + rho_odd >= 0) {
      rho[t + 1] = rho_even;
      rho[t + 2] = rho_odd;
    }
    t += 2;
  }
  const std::size_t max_t = t - 2;
  if (rho_even > 0) rho[max_t + 1] = rho_even;
  // Geyer's initial monotone sequence.
  t = 1;
  while (t + 2 <= max_t) {
    if (rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]) {
      rho[t + 1] = (rho[t - 1] + rho[t]) / 2;
      rho[t + 2] = rho[t + 1];
    }
    t += 2;
  }
  const double ess = double(m) * nd;
  double tau = -1;
  for (std::size_t i = 0; i <= max_t; ++i) tau += 2 * rho[i];
  if (max_t + 1 < n) tau += rho[max_t + 1];
  tau = std::max(tau, 1 / std::log10(ess));
  return ess / tau;
}

double ess_bulk(const Draws& chains) {
  if (!valid(chains, 4)) return nan;
  return ess_basic(rank_normalise(split_chains(chains)));
}

double ess_tail(const Draws& chains) {
  if (!valid(chains, 4)) return nan;
  std::vector<double> all;
  for (const auto& c : chains) all.insert(all.end(), c.begin(), c.end());
  const double q05 = quantile(all, 0.05), q95 = quantile(all, 0.95);
  auto indicator = [&](double q) {
    Draws d = chains;
    for (auto& c : d)
      for (auto& x : c) x = x <= q ? 1.0 : 0.0;
    return ess_basic(split_chains(d));
  };
  return std::min(indicator(q05), indicator(q95));
}

double ess_mean(const Draws& chains) {
  if (!valid(chains, 4)) return nan;
  return ess_basic(split_chains(chains));
}

double mcse_mean(const Draws& chains) {
  if (!valid(chains, 4)) return nan;
  std::vector<double> all;
  for (const auto& c : chains) all.insert(all.end(), c.begin(), c.end());
  return std::sqrt(variance(all, 1) / ess_mean(chains));
}

double ebfmi(const std::vector<double>& energy) {
  if (energy.size() < 2) return nan;
  double num = 0;
  for (std::size_t i = 1; i < energy.size(); ++i) num += (energy[i] - energy[i - 1]) * (energy[i] - energy[i - 1]);
  num /= double(energy.size() - 1);
  return num / variance(energy, 0);
}

double max_or_nan(const std::vector<double>& v) {
  double m = -std::numeric_limits<double>::infinity();
  for (double x : v) {
    if (std::isnan(x)) return nan;
    m = std::max(m, x);
  }
  return m;
}

double min_or_nan(const std::vector<double>& v) {
  double m = std::numeric_limits<double>::infinity();
  for (double x : v) {
    if (std::isnan(x)) return nan;
    m = std::min(m, x);
  }
  return m;
}

std::vector<std::string> stan_warnings(const std::vector<ObservableDiagnostics>& observables, int chains,
                                       const std::vector<std::int64_t>& divergences,
                                       const std::vector<std::int64_t>& treedepth_hits, int max_depth,
                                       const std::vector<double>& ebfmi) {
  std::vector<std::string> w;
  const double min_ess = 100.0 * chains;
  auto count = [](const std::vector<double>& v, auto bad) {
    return std::count_if(v.begin(), v.end(), bad);
  };
  for (const auto& o : observables) {
    const auto n_nan = count(o.rhat, [](double x) { return std::isnan(x); }) +
                       count(o.ess_bulk, [](double x) { return std::isnan(x); }) +
                       count(o.ess_tail, [](double x) { return std::isnan(x); });
    if (n_nan > 0)
      w.push_back(fmt::format("{}: {} R-hat/ESS values are NaN (a constant or non-finite series)", o.name, n_nan));
    if (const auto n = count(o.rhat, [](double x) { return x > 1.01; }); n > 0)
      w.push_back(fmt::format("{}: R-hat > 1.01 for {} of {} (max {:.4f}): the chains have not mixed", o.name, n,
                              o.rhat.size(), max_or_nan(o.rhat)));
    if (const auto n = count(o.ess_bulk, [&](double x) { return x < min_ess; }); n > 0)
      w.push_back(fmt::format("{}: bulk ESS < {:.0f} (100 per chain) for {} of {} (min {:.0f})", o.name, min_ess, n,
                              o.ess_bulk.size(), *std::min_element(o.ess_bulk.begin(), o.ess_bulk.end())));
    if (const auto n = count(o.ess_tail, [&](double x) { return x < min_ess; }); n > 0)
      w.push_back(fmt::format("{}: tail ESS < {:.0f} (100 per chain) for {} of {} (min {:.0f})", o.name, min_ess, n,
                              o.ess_tail.size(), *std::min_element(o.ess_tail.begin(), o.ess_tail.end())));
  }
  std::int64_t div = 0, hits = 0;
  for (auto x : divergences) div += x;
  for (auto x : treedepth_hits) hits += x;
  if (div > 0) w.push_back(fmt::format("{} divergent transitions after warm-up", div));
  if (hits > 0) w.push_back(fmt::format("{} draws reached the maximum tree depth {}", hits, max_depth));
  for (std::size_t c = 0; c < ebfmi.size(); ++c)
    if (!(ebfmi[c] >= 0.3)) w.push_back(fmt::format("chain {}: E-BFMI {:.3f} < 0.3", c, ebfmi[c]));
  return w;
}

}  // namespace attnpaths::diagnostics
