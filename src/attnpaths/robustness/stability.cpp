// Perturbed test sets and the linear form of the mean predictor (docs/robustness.md §4).
#include "attnpaths/robustness/stability.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/rng.hpp"

namespace attnpaths {

namespace {


// Stream offsets of the perturbations (one stream per example and kind).
constexpr std::uint64_t stream_stride = 4;

void gaussian_noise(ExampleSet& s, double eps, const PerturbationContext& c) {
  const std::size_t per = sz(c.T) * sz(c.N0);
  for (std::int64_t mu = 0; mu < s.local.size(); ++mu) {
    RandomStream rng(c.seed, rng_domain::robustness, sz(s.local.begin + mu) * stream_stride + 0);
    for (std::size_t i = 0; i < per; ++i) s.x[sz(mu) * per + i] += eps * rng.normal();
  }
}

void replace_tokens(ExampleSet& s, double fraction, const PerturbationContext& c) {
  const std::size_t per = sz(c.T) * sz(c.N0), n0 = sz(c.N0);
  const int k = static_cast<int>(std::lround(fraction * c.T));
  std::vector<int> order(sz(c.T));
  for (std::int64_t mu = 0; mu < s.local.size(); ++mu) {
    RandomStream rng(c.seed, rng_domain::robustness, sz(s.local.begin + mu) * stream_stride + 1);
    std::iota(order.begin(), order.end(), 0);
    for (int j = 0; j < k; ++j) {  // partial Fisher–Yates: k distinct tokens
      const int pick = j + static_cast<int>(rng.uniform() * (c.T - j)) % (c.T - j);
      std::swap(order[sz(j)], order[sz(pick)]);
      const std::size_t tok = sz(order[sz(j)]);
      for (std::size_t i = 0; i < n0; ++i)
        s.x[sz(mu) * per + tok * n0 + i] = c.moments->mean[tok * n0 + i] + c.moments->sd[tok * n0 + i] * rng.normal();
    }
  }
}

// y·f̄(x) with f̄ = Σ_π u_π · x̃_π(x): the margin the adversary lowers.
double margin(const PerturbationContext& c, const double* x, double y) {
  const std::vector<double> xt = path_inputs_of(*c.attention, x, c.T, c.N0);
  double f = 0;
  for (std::size_t j = 0; j < xt.size(); ++j) f += (*c.mean_weights)[j] * xt[j];
  return y * f;
}

// Lowers y·f̄(x + δ) over the box |δ_i| ≤ ε with signed gradients (∇_x f̄ = the reverse derivative
// of Σ_π u_π · x̃_π): first the signed gradient at x at the scales ε, ε/2, …, ε/2^{steps−1} (the
// attention is sharp, so a small step can beat a large one), then from the best of them projected
// signed-gradient steps of size ε/2, halved whenever a step does not lower the margin. Only
// improvements are kept, so the margin never rises.
void adversarial(ExampleSet& s, double eps, const PerturbationContext& c) {
  const std::size_t per = sz(c.T) * sz(c.N0);
  std::vector<double> best(per), trial(per), xd(per), g(per);
  const auto gradient_sign = [&](const std::vector<double>& delta, const double* x, double y) {
    for (std::size_t i = 0; i < per; ++i) xd[i] = x[i] + delta[i];
    path_input_vjp(*c.attention, *c.scores, xd.data(), c.T, c.N0, c.mean_weights->data(), g.data());
    for (std::size_t i = 0; i < per; ++i) g[i] = -y * g[i] > 0 ? 1.0 : (-y * g[i] < 0 ? -1.0 : 0.0);
  };
  const auto value = [&](const std::vector<double>& delta, const double* x, double y) {
    for (std::size_t i = 0; i < per; ++i) xd[i] = x[i] + delta[i];
    return margin(c, xd.data(), y);
  };
  for (std::int64_t mu = 0; mu < s.local.size(); ++mu) {
    double* x = s.x.data() + sz(mu) * per;
    const double y = s.y[sz(mu)];
    std::fill(best.begin(), best.end(), 0.0);
    double best_value = margin(c, x, y);
    gradient_sign(best, x, y);
    const std::vector<double> sign0 = g;
    for (int j = 0; j < c.steps; ++j) {
      for (std::size_t i = 0; i < per; ++i) trial[i] = std::ldexp(eps, -j) * sign0[i];
      const double v = value(trial, x, y);
      if (v < best_value) best_value = v, best = trial;
    }
    double step = 0.5 * eps;
    for (int k = 0; k < c.steps; ++k) {
      gradient_sign(best, x, y);
      for (std::size_t i = 0; i < per; ++i) trial[i] = std::clamp(best[i] + step * g[i], -eps, eps);
      const double v = value(trial, x, y);
      if (v < best_value) {
        best_value = v;
        best = trial;
      } else {
        step /= 2;
      }
    }
    for (std::size_t i = 0; i < per; ++i) x[i] += best[i];
  }
}

}  // namespace

std::string to_string(Perturbation p) {
  switch (p) {
    case Perturbation::gaussian: return "gaussian";
    case Perturbation::replace: return "replace";
    case Perturbation::adversarial: return "adversarial";
  }
  return "?";
}

Perturbation parse_perturbation(const std::string& s) {
  if (s == "gaussian") return Perturbation::gaussian;
  if (s == "replace") return Perturbation::replace;
  if (s == "adversarial") return Perturbation::adversarial;
  throw InputError("unknown perturbation '" + s + "' (expected gaussian, replace or adversarial)");
}

std::vector<double> mean_predictor_weights(RenormalizedKernel& kernel, int paths, int N0, const Comm& comm) {
  const std::int64_t r = static_cast<std::int64_t>(paths) * N0;
  PathInputs probe;
  probe.set_name = "unit path inputs";
  probe.count = r;
  probe.local = block_range(r, comm.rank(), comm.size());
  probe.paths = paths;
  probe.dim = N0;
  probe.xt.assign(sz(probe.local.size()) * sz(r), 0.0);
  probe.y.assign(sz(probe.local.size()), 0.0);
  for (std::int64_t j = 0; j < probe.local.size(); ++j) probe.xt[sz(j) * sz(r) + sz(probe.local.begin + j)] = 1.0;
  const PredictorMoments m = kernel.predict(probe);  // f̄(e_j) = u_j
  return comm.allgather_blocks(m.mean);
}

TokenMoments TokenMoments::of(const ExampleSet& set, int T, int N0, const Comm& comm) {
  const std::size_t per = sz(T) * sz(N0);
  std::vector<double> sums(2 * per, 0.0);
  for (std::int64_t mu = 0; mu < set.local.size(); ++mu)
    for (std::size_t i = 0; i < per; ++i) {
      const double v = set.x[sz(mu) * per + i];
      sums[i] += v;
      sums[per + i] += v * v;
    }
  comm.sum(sums);
  ATTN_REQUIRE(set.count > 0, InputError, "robustness: the example set '{}' is empty", set.name);
  TokenMoments m;
  m.mean.resize(per);
  m.sd.resize(per);
  const double n = static_cast<double>(set.count);
  for (std::size_t i = 0; i < per; ++i) {
    m.mean[i] = sums[i] / n;
    m.sd[i] = std::sqrt(std::max(0.0, sums[per + i] / n - m.mean[i] * m.mean[i]));
  }
  return m;
}

ExampleSet perturb(const ExampleSet& set, Perturbation p, double eps, const PerturbationContext& c) {
  ATTN_REQUIRE(eps >= 0 && std::isfinite(eps), InputError, "robustness: perturbation size ε must be ≥ 0 (got {})", eps);
  ExampleSet out = set;
  if (eps == 0) return out;
  switch (p) {
    case Perturbation::gaussian: gaussian_noise(out, eps, c); break;
    case Perturbation::replace:
      ATTN_REQUIRE(eps <= 1, InputError, "robustness: the replaced fraction of tokens must be in [0, 1] (got {})", eps);
      replace_tokens(out, eps, c);
      break;
    case Perturbation::adversarial: adversarial(out, eps, c); break;
  }
  return out;
}

}  // namespace attnpaths
