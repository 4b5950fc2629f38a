// Empirical Lipschitz constants (docs/robustness.md §3). One measurement routine serves heads and
// paths: a map is its value, its forward and reverse derivatives, the norm of an output change in
// the transport sense, and its two bounds as functions of R.
#include "attnpaths/robustness/empirical.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/model/attention.hpp"
#include "attnpaths/robustness/stability.hpp"  // rng_domain::robustness

namespace attnpaths {

namespace {

using Vec = std::vector<double>;

// Perturbation sizes relative to ‖x‖_F: infinitesimal, small, large.
constexpr double relative_sizes[] = {1e-4, 1e-2, 1e-1};

double norm(const Vec& v) {
  double s = 0;
  for (double a : v) s += a * a;
  return std::sqrt(s);
}
void scale_to(Vec& v, double size) {
  const double n = norm(v);
  for (double& a : v) a *= size / n;
}
Vec plus(const double* x, const Vec& d) {
  Vec out(d.size());
  for (std::size_t i = 0; i < d.size(); ++i) out[i] = x[i] + d[i];
  return out;
}

struct ProbedMap {
  std::function<Vec(const double* x)> value;
  std::function<Vec(const double* x, const Vec& dx)> jvp;
  std::function<Vec(const double* x, const Vec& g)> vjp;
  std::function<double(const Vec& dy)> transport_norm;  // output change in the transport norm
  std::function<double(double R)> bound_frobenius, bound_transport;
};

class Measurement {
 public:
  Measurement(const ProbedMap& map, const double* x, int T, int N0, RatioTable& table, std::size_t index)
      : map_(map), x_(x), T_(T), N0_(N0), table_(table), i_(index), y0_(map.value(x)),
        radius_(example_radius(x, T, N0)), size_(norm(Vec(x, x + sz(T) * sz(N0)))) {}

  // Ratio ‖Δ‖/‖δ‖_F of δ (recorded as random or adversarial) and the check against the bound.
  double record(const Vec& d, bool adversarial) {
    const Vec xd = plus(x_, d);
    Vec dy = map_.value(xd.data());
    for (std::size_t i = 0; i < dy.size(); ++i) dy[i] -= y0_[i];
    const double rf = norm(dy) / norm(d), rt = map_.transport_norm(dy) / token_max_norm(d.data(), T_, N0_);
    const double R = std::max(radius_, example_radius(xd.data(), T_, N0_));
    auto& f = adversarial ? table_.adversarial_frobenius : table_.random_frobenius;
    auto& t = adversarial ? table_.adversarial_transport : table_.random_transport;
    f[i_] = std::max(f[i_], rf);
    t[i_] = std::max(t[i_], rt);
    table_.worst[i_] = std::max({table_.worst[i_], rf / map_.bound_frobenius(R), rt / map_.bound_transport(R)});
    return rf;
  }

  void random(RandomStream& rng, int directions) {
    const std::size_t n = sz(T_) * sz(N0_);
    for (double rel : relative_sizes)
      for (int k = 0; k < directions; ++k) {
        Vec d(n, 0.0);
        if (k % 2 == 0) {
          for (double& a : d) a = rng.normal();
        } else {  // one token only: the direction that concentrates a transport distance
          const std::size_t s = static_cast<std::size_t>(rng.uniform() * T_) % sz(T_);
          for (int i = 0; i < N0_; ++i) d[s * sz(N0_) + sz(i)] = rng.normal();
        }
        scale_to(d, rel * size_);
        record(d, false);
      }
  }

  // Worst direction of the Jacobian (power iteration on J^T J), then at each size projected gradient
  // ascent of ‖Δ‖² on the sphere ‖δ‖_F = size (the gradient is the reverse derivative of Δ at x+δ).
  void adversarial(RandomStream& rng, int iterations, int steps) {
    Vec v(sz(T_) * sz(N0_));
    for (double& a : v) a = rng.normal();
    scale_to(v, 1.0);
    for (int it = 0; it < iterations; ++it) {
      Vec w = map_.vjp(x_, map_.jvp(x_, v));
      if (norm(w) == 0.0) break;
      scale_to(w, 1.0);
      v = w;
    }
    for (double rel : relative_sizes) {
      Vec d = v;
      scale_to(d, rel * size_);
      double best = record(d, true), tau = 0.5;
      for (int s = 0; s < steps && tau > 1e-3; ++s) {
        const Vec xd = plus(x_, d);
        Vec dy = map_.value(xd.data());
        for (std::size_t i = 0; i < dy.size(); ++i) dy[i] -= y0_[i];
        Vec g = map_.vjp(xd.data(), dy);
        double along = 0;
        for (std::size_t i = 0; i < g.size(); ++i) along += g[i] * d[i] / (rel * size_);
        for (std::size_t i = 0; i < g.size(); ++i) g[i] -= along * d[i] / (rel * size_);
        const double gn = norm(g);
        if (!(gn > 0)) break;
        Vec trial(d.size());
        for (std::size_t i = 0; i < d.size(); ++i) trial[i] = d[i] / (rel * size_) + tau * g[i] / gn;
        scale_to(trial, rel * size_);
        const double r = record(trial, true);
        if (r > best) {
          best = r;
          d = trial;
        } else {
          tau /= 2;
        }
      }
    }
  }

 private:
  const ProbedMap& map_;
  const double* x_;
  int T_, N0_;
  RatioTable& table_;
  std::size_t i_;
  Vec y0_;
  double radius_, size_;
};

ProbedMap head_map(const AttentionLayer& layer, int h, Nonlinearity nl, const RowMatrix& W, double norm_W, int T,
                   int N0) {
  ProbedMap m;
  m.value = [&layer, h, nl, T, N0](const double* x) {
    Vec om(sz(T) * sz(T));
    attention_matrix(layer, h, nl, x, T, N0, om.data());
    return om;
  };
  m.jvp = [m, &W, T, N0](const double* x, const Vec& dx) {
    const Vec om = m.value(x);
    Vec d(om.size());
    attention_jvp(W, om.data(), x, dx.data(), T, N0, d.data());
    return d;
  };
  m.vjp = [m, &W, T, N0](const double* x, const Vec& g) {
    const Vec om = m.value(x);
    Vec gx(sz(T) * sz(N0));
    attention_vjp(W, om.data(), x, g.data(), T, N0, gx.data());
    return gx;
  };
  m.transport_norm = [T](const Vec& d) {  // max over queries t of Σ_s |ΔΩ_st|
    double best = 0;
    for (int t = 0; t < T; ++t) {
      double s1 = 0;
      for (int s = 0; s < T; ++s) s1 += std::abs(d[sz(s) * sz(T) + sz(t)]);
      best = std::max(best, s1);
    }
    return best;
  };
  m.bound_frobenius = [T, norm_W](double R) { return head_bound_frobenius(T, R, norm_W); };
  m.bound_transport = [norm_W](double R) { return head_bound_transport(R, norm_W); };
  return m;
}

ProbedMap path_map(const AttentionSpec& att, const ScoreMatrices& scores, int pi, int T, int N0) {
  const std::vector<double> norms = scores.norms_on_path(att, pi);
  ProbedMap m;
  m.value = [&att, pi, T, N0](const double* x) {
    const Vec all = path_inputs_of(att, x, T, N0);
    return Vec(all.begin() + pi * N0, all.begin() + (pi + 1) * N0);
  };
  m.jvp = [m, T, N0](const double* x, const Vec& dx) {  // central difference (only a search direction)
    const double h = 1e-5 * std::max(1.0, example_radius(x, T, N0)) / std::max(norm(dx), 1e-300);
    Vec xp(dx.size()), xm(dx.size());
    for (std::size_t i = 0; i < dx.size(); ++i) {
      xp[i] = x[i] + h * dx[i];
      xm[i] = x[i] - h * dx[i];
    }
    Vec d = m.value(xp.data());
    const Vec b = m.value(xm.data());
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = (d[i] - b[i]) / (2 * h);
    return d;
  };
  m.vjp = [&att, &scores, pi, T, N0](const double* x, const Vec& g) {
    Vec up(sz(att.paths()) * sz(N0), 0.0), gx(sz(T) * sz(N0));
    std::copy(g.begin(), g.end(), up.begin() + pi * N0);
    path_input_vjp(att, scores, x, T, N0, up.data(), gx.data());
    return gx;
  };
  m.transport_norm = [](const Vec& d) { return norm(d); };
  m.bound_frobenius = m.bound_transport = [norms](double R) { return path_bound(R, norms); };
  return m;
}

}  // namespace

void RatioTable::resize(std::size_t n) {
  for (auto* v : {&random_frobenius, &adversarial_frobenius, &random_transport, &adversarial_transport, &worst})
    v->assign(n, 0.0);
}

void RatioTable::max_over(const Comm& comm) {
  for (auto* v : {&random_frobenius, &adversarial_frobenius, &random_transport, &adversarial_transport, &worst})
    for (double& a : *v) a = comm.max(a);
}

EmpiricalConstants measure_lipschitz(const ExampleSet& set, const AttentionSpec& attention,
                                     const ScoreMatrices& scores, int T, int N0, const EmpiricalOptions& o,
                                     const Comm& comm) {
  ATTN_REQUIRE(attention.nonlinearity == Nonlinearity::softmax, InputError,
               "robustness: Lipschitz bounds need softmax attention (hardmax is not continuous)");
  ATTN_REQUIRE(o.examples >= 0 && o.random_directions >= 0 && o.power_iterations >= 0 && o.ascent_steps >= 0,
               InputError, "robustness: the Lipschitz measurement counts must be non-negative");
  std::vector<ProbedMap> heads, paths;
  for (int l = 0; l < attention.depth(); ++l)
    for (int h = 0; h < attention.layers[sz(l)].heads; ++h)
      heads.push_back(head_map(attention.layers[sz(l)], h, attention.nonlinearity, scores.W[sz(l)][sz(h)],
                               scores.norm[sz(l)][sz(h)], T, N0));
  for (int pi = 0; pi < attention.paths(); ++pi) paths.push_back(path_map(attention, scores, pi, T, N0));
  EmpiricalConstants out;
  out.examples = std::min(o.examples, set.count);
  out.heads.resize(heads.size());
  out.paths.resize(paths.size());
  const std::size_t per = sz(T) * sz(N0);
  for (std::int64_t mu = set.local.begin; mu < std::min(set.local.end, out.examples); ++mu) {
    const double* x = set.x.data() + sz(mu - set.local.begin) * per;
    for (auto [maps, table, offset] : {std::tuple{&heads, &out.heads, 0}, std::tuple{&paths, &out.paths, 1 << 20}})
      for (std::size_t i = 0; i < maps->size(); ++i) {
        // The top bit keeps these streams apart from the perturbations' (stability.cpp).
        RandomStream rng(o.seed, rng_domain::robustness, (std::uint64_t{1} << 63) | (sz(mu) * (1u << 22) + sz(offset) + i));
        Measurement m((*maps)[i], x, T, N0, *table, i);
        m.random(rng, o.random_directions);
        m.adversarial(rng, o.power_iterations, o.ascent_steps);
      }
  }
  out.heads.max_over(comm);
  out.paths.max_over(comm);
  return out;
}

}  // namespace attnpaths
