// Hidden-Markov-chain task (docs/model.md §5.1): data generation and the hand-built heads.
#include "attnpaths/data/markov.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/rng.hpp"

namespace attnpaths {

namespace {


// Stream index of example `index` of `set`: the set in the top 16 bits, the global index below.
std::uint64_t example_key(MarkovSet set, std::int64_t index) {
  return (static_cast<std::uint64_t>(set) << 48) | static_cast<std::uint64_t>(index);
}

std::uint64_t seed_of(std::int64_t s) { return static_cast<std::uint64_t>(s); }

void require_count(std::int64_t n, const char* option, bool allow_zero) {
  ATTN_REQUIRE((allow_zero ? n >= 0 : n >= 2) && n % 2 == 0 && n < (std::int64_t{1} << 48), InputError,
               "markov: --{} = {} must be an even number {} (the first half of the set has y = +1, the second y = −1)",
               option, n, allow_zero ? ">= 0" : ">= 2");
}

void require_probability(double p, const char* option) {
  ATTN_REQUIRE(std::isfinite(p) && p >= 0.0 && p <= 1.0, InputError, "markov: --{} = {} must be a probability in [0, 1]",
               option, p);
}

void require_nonnegative(double v, const char* option) {
  ATTN_REQUIRE(std::isfinite(v) && v >= 0.0, InputError, "markov: --{} = {} must be finite and >= 0", option, v);
}

void require_seeds(const std::vector<std::int64_t>& seeds, const char* option) {
  ATTN_REQUIRE(seeds.size() == 2, InputError, "markov: --{} needs 2 seeds (one per head slot), got {}", option,
               seeds.size());
  for (auto s : seeds) ATTN_REQUIRE(s >= 0, InputError, "markov: --{}: seed {} must be >= 0", option, s);
}

// ------------------------------------------------------------------------------------------- heads
// W = β · [[F, C_fp], [C_pf, Pos]] on (features | positions), N0 = F_dim + T + 1; key on the left:
// A[s,t] = x_s^T W x_t (docs/model.md §1.1, §5.1).

struct HeadGeometry {
  int features, positions, dim;  // F_dim, T + 1, N0
  double& at(std::vector<double>& w, int i, int j) const { return w[sz(i) * sz(dim) + sz(j)]; }
};

// good (same_token): F = q q^T with q = (v+ − v−)/F_dim (q·v± = ±1), acting on every key;
// Pos[t−1, t] = 1 for t >= 2 (previous token); Pos[0, t] = 1.5 for t >= 1 (BOS); Pos[0, 0] = 0.
std::vector<double> good_head(const MarkovOptions& o, const HeadGeometry& g) {
  std::vector<double> w(sz(g.dim) * sz(g.dim), 0.0);
  const auto vp = markov_feature_vector(o, +1), vm = markov_feature_vector(o, -1);
  std::vector<double> q(sz(g.features));
  for (int i = 0; i < g.features; ++i) q[sz(i)] = (vp[sz(i)] - vm[sz(i)]) / g.features;
  for (int i = 0; i < g.features; ++i)
    for (int j = 0; j < g.features; ++j) g.at(w, i, j) = o.beta * q[sz(i)] * q[sz(j)];
  const int F = g.features;
  for (int t = 2; t < g.positions; ++t) g.at(w, F + t - 1, F + t) = o.beta * 1.0;
  for (int t = 1; t < g.positions; ++t) g.at(w, F, F + t) = o.beta * 1.5;
  return w;
}

// uniform: F = 0, Pos = all ones ⇒ every score is β, attention exactly 1/(T+1) (BOS included).
std::vector<double> uniform_head(const MarkovOptions& o, const HeadGeometry& g) {
  std::vector<double> w(sz(g.dim) * sz(g.dim), 0.0);
  for (int s = 0; s < g.positions; ++s)
    for (int t = 0; t < g.positions; ++t) g.at(w, g.features + s, g.features + t) = o.beta;
  return w;
}

// random (blank + perturbation p): F = p·R1/F_dim, Pos = p·R2, cross blocks p·R3/√F_dim, times β.
// Draw order R1 [F×F], R2 [(T+1)×(T+1)], R3 [N0×N0] (only its off-diagonal blocks are used), all
// row-major from the stream (seed, head_perturbation, 0). p = 0 gives W = 0 (a uniform head).
std::vector<double> random_head(const MarkovOptions& o, const HeadGeometry& g, std::int64_t seed, double p) {
  std::vector<double> w(sz(g.dim) * sz(g.dim), 0.0);
  if (p == 0.0) return w;
  RandomStream rng(seed_of(seed), rng_domain::head_perturbation, 0);
  const int F = g.features;
  const double f_scale = o.beta * p / F, pos_scale = o.beta * p, cross_scale = o.beta * p / std::sqrt(static_cast<double>(F));
  for (int i = 0; i < F; ++i)
    for (int j = 0; j < F; ++j) g.at(w, i, j) = f_scale * rng.normal();
  for (int s = 0; s < g.positions; ++s)
    for (int t = 0; t < g.positions; ++t) g.at(w, F + s, F + t) = pos_scale * rng.normal();
  for (int i = 0; i < g.dim; ++i)
    for (int j = 0; j < g.dim; ++j) {
      const double r = rng.normal();
      if ((i < F) != (j < F)) g.at(w, i, j) = cross_scale * r;
    }
  return w;
}

enum class HeadKind { good, uniform, random, blank };

struct HeadSet {
  std::vector<std::vector<HeadKind>> layers;
  std::vector<std::string> path_labels;
};

HeadSet head_set(const std::string& name) {
  using K = HeadKind;
  if (name == "4paths") return {{{K::good, K::random}, {K::uniform, K::random}}, {"g", "a1", "d", "a2"}};
  if (name == "2paths") return {{{K::good, K::blank}, {K::uniform}}, {"g", "d"}};
  if (name == "good") return {{{K::good}, {K::uniform}}, {"g"}};
  if (name == "good+denoising") return {{{K::good, K::random}, {K::uniform}}, {"g", "d"}};
  throw InputError(fmt::format("markov: unknown head set --heads '{}' (expected one of: {})", name,
                               fmt::join(markov_head_sets(), ", ")));
}

MarkovSet markov_set_of(const std::string& name) {
  if (name == "train") return MarkovSet::train;
  if (name == "test") return MarkovSet::test;
  if (name == "validation") return MarkovSet::validation;
  throw LibraryError(fmt::format("internal: the markov task has no example set '{}'", name));
}

}  // namespace

const std::vector<std::string>& markov_head_sets() {
  static const std::vector<std::string> names{"4paths", "2paths", "good", "good+denoising"};
  return names;
}

void MarkovOptions::validate() const {
  require_count(train_examples, "train-examples", false);
  require_count(test_examples, "test-examples", false);
  require_count(validation_examples, "validation-examples", true);
  ATTN_REQUIRE(tokens >= 1 && tokens <= 100000, InputError, "markov: --tokens = {} must be in [1, 100000]", tokens);
  ATTN_REQUIRE(feature_dim >= 2 && feature_dim % 2 == 0 && feature_dim <= 100000, InputError,
               "markov: --feature-dim = {} must be an even number in [2, 100000] (v± fill one half each)", feature_dim);
  require_probability(stay_plus, "stay-plus");
  require_probability(stay_minus, "stay-minus");
  require_nonnegative(noise_parallel, "noise-parallel");
  require_nonnegative(noise_perpendicular, "noise-perpendicular");
  require_nonnegative(noise_out_of_plane, "noise-out-of-plane");
  ATTN_REQUIRE(std::isfinite(beta), InputError, "markov: --beta = {} must be finite", beta);
  require_nonnegative(perturbation, "perturbation");
  ATTN_REQUIRE(seed >= 0, InputError, "markov: --seed = {} must be >= 0", seed);
  require_seeds(head_seeds_layer1, "head-seeds-layer1");
  require_seeds(head_seeds_layer2, "head-seeds-layer2");
  head_set(heads);  // throws for an unknown name
}

Config MarkovOptions::to_config() const {
  Config c;
  c.set("task", "markov");
  c.set("heads", heads);
  c.set("train_examples", ConfigValue(train_examples));
  c.set("test_examples", ConfigValue(test_examples));
  c.set("validation_examples", ConfigValue(validation_examples));
  c.set("tokens", tokens);
  c.set("feature_dim", feature_dim);
  c.set("stay_plus", ConfigValue(stay_plus));
  c.set("stay_minus", ConfigValue(stay_minus));
  c.set("noise_parallel", ConfigValue(noise_parallel));
  c.set("noise_perpendicular", ConfigValue(noise_perpendicular));
  c.set("noise_out_of_plane", ConfigValue(noise_out_of_plane));
  c.set("beta", ConfigValue(beta));
  c.set("perturbation", ConfigValue(perturbation));
  c.set("seed", ConfigValue(seed));
  c.set("head_seeds_layer1", ConfigValue(head_seeds_layer1));
  c.set("head_seeds_layer2", ConfigValue(head_seeds_layer2));
  return c;
}

std::vector<double> markov_feature_vector(const MarkovOptions& o, int sign) {
  const int half = o.feature_dim / 2;
  std::vector<double> v(sz(o.feature_dim), 0.0);
  std::fill_n(v.begin() + (sign > 0 ? 0 : half), half, std::sqrt(2.0));
  return v;
}

double markov_example(const MarkovOptions& o, MarkovSet set, std::int64_t count, std::int64_t index, double* x,
                      int* states) {
  const int T = o.tokens, F = o.feature_dim, N0 = F + T + 1;
  const double y = index < count / 2 ? 1.0 : -1.0;
  const double stay = y > 0 ? o.stay_plus : o.stay_minus;
  const std::uint64_t key = example_key(set, index);

  // Noise directions (docs/model.md §5.1): e_∥ ∝ v+ + v−, e_⊥ ∝ v+ − v−.
  const auto vp = markov_feature_vector(o, +1), vm = markov_feature_vector(o, -1);
  std::vector<double> e_par(sz(F)), e_perp(sz(F));
  double n_par = 0, n_perp = 0;
  for (int i = 0; i < F; ++i) {
    e_par[sz(i)] = vp[sz(i)] + vm[sz(i)];
    e_perp[sz(i)] = vp[sz(i)] - vm[sz(i)];
    n_par += e_par[sz(i)] * e_par[sz(i)];
    n_perp += e_perp[sz(i)] * e_perp[sz(i)];
  }
  for (int i = 0; i < F; ++i) {
    e_par[sz(i)] /= std::sqrt(n_par);
    e_perp[sz(i)] /= std::sqrt(n_perp);
  }

  std::fill_n(x, sz(T + 1) * sz(N0), 0.0);
  x[F] = 1.0;  // BOS: zero features, position e_0
  RandomStream chain(seed_of(o.seed), rng_domain::markov_chain, key);
  RandomStream noise(seed_of(o.seed), rng_domain::markov_noise, key);
  int sigma = chain.uniform() >= 0.5 ? +1 : -1;  // first state uniform
  std::vector<double> z(sz(F));
  for (int s = 1; s <= T; ++s) {
    if (s > 1 && !(chain.uniform() < stay)) sigma = -sigma;  // stay with probability `stay`
    if (states) states[s - 1] = sigma;
    // noise = s_∥ e_∥e_∥^T z + s_⊥ e_⊥e_⊥^T z + s_oop (I − e_∥e_∥^T − e_⊥e_⊥^T) z,  z ~ N(0, I)
    double z_par = 0, z_perp = 0;
    for (int i = 0; i < F; ++i) {
      z[sz(i)] = noise.normal();
      z_par += e_par[sz(i)] * z[sz(i)];
      z_perp += e_perp[sz(i)] * z[sz(i)];
    }
    const auto& v = sigma > 0 ? vp : vm;
    double* token = x + sz(s) * sz(N0);
    for (int i = 0; i < F; ++i) {
      const double in_par = z_par * e_par[sz(i)], in_perp = z_perp * e_perp[sz(i)];
      token[i] = v[sz(i)] + o.noise_parallel * in_par + o.noise_perpendicular * in_perp +
                 o.noise_out_of_plane * (z[sz(i)] - in_par - in_perp);
    }
    token[F + s] = 1.0;  // position e_s
  }
  return y;
}

AttentionSpec markov_attention(const MarkovOptions& o) {
  const HeadSet hs = head_set(o.heads);
  const HeadGeometry g{o.feature_dim, o.tokens + 1, o.feature_dim + o.tokens + 1};
  AttentionSpec spec;
  spec.readout = Readout::last_token;
  spec.nonlinearity = Nonlinearity::softmax;
  spec.path_labels = hs.path_labels;
  for (std::size_t l = 0; l < hs.layers.size(); ++l) {
    const auto& seeds = l == 0 ? o.head_seeds_layer1 : o.head_seeds_layer2;
    AttentionLayer layer;
    layer.style = AttentionStyle::w;
    layer.heads = static_cast<int>(hs.layers[l].size());
    for (std::size_t h = 0; h < hs.layers[l].size(); ++h) {
      std::vector<double> w;
      switch (hs.layers[l][h]) {
        case HeadKind::good: w = good_head(o, g); break;
        case HeadKind::uniform: w = uniform_head(o, g); break;
        case HeadKind::random: w = random_head(o, g, seeds[h], o.perturbation); break;
        case HeadKind::blank: w = random_head(o, g, seeds[h], 0.0); break;
      }
      layer.w.insert(layer.w.end(), w.begin(), w.end());
    }
    spec.layers.push_back(std::move(layer));
  }
  return spec;
}

void markov_rows(const MarkovOptions& o, const ExampleSet& set, const Range& rows, double* x, double* y) {
  const MarkovSet which = markov_set_of(set.name);
  const std::size_t per_example = sz(o.tokens + 1) * sz(o.feature_dim + o.tokens + 1);
  const std::int64_t n = rows.size();
#pragma omp parallel for schedule(static) if (n >= 8)
  for (std::int64_t mu = 0; mu < n; ++mu)
    y[sz(mu)] = markov_example(o, which, set.count, rows.begin + mu, x + sz(mu) * per_example);
}

Dataset markov_header(const MarkovOptions& o, const Comm& comm) {
  o.validate();
  Dataset d;
  d.task = "markov";
  d.tokens = o.tokens + 1;
  d.token_dim = o.feature_dim + o.tokens + 1;
  const auto header = [&](const std::string& name, std::int64_t count) {
    ExampleSet set;
    set.name = name;
    set.count = count;
    set.local = block_range(count, comm.rank(), comm.size());
    return set;
  };
  d.train = header("train", o.train_examples);
  d.test = header("test", o.test_examples);
  if (o.validation_examples > 0) d.validation = header("validation", o.validation_examples);
  d.attention = markov_attention(o);
  return d;
}

Dataset generate_markov(const MarkovOptions& o, const Comm& comm) {
  Dataset d = markov_header(o, comm);
  const std::size_t per_example = sz(d.tokens) * sz(d.token_dim);
  std::vector<ExampleSet*> sets{&d.train, &d.test};
  if (d.validation) sets.push_back(&*d.validation);
  for (ExampleSet* set : sets) {
    set->x.assign(sz(set->local.size()) * per_example, 0.0);
    set->y.assign(sz(set->local.size()), 0.0);
    markov_rows(o, *set, set->local, set->x.data(), set->y.data());
  }
  return d;
}

}  // namespace attnpaths
