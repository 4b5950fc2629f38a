// The Markov generator (docs/model.md §5.1; docs/data.md): layout, labels, chain statistics, noise
// decomposition, the hand-built heads, head-set structure, option validation and rank invariance.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "attnpaths/core/index.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/data/markov.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

using attnpaths::sz;

MarkovOptions small(std::int64_t train = 8, std::int64_t test = 6) {
  MarkovOptions o;
  o.train_examples = train;
  o.test_examples = test;
  return o;
}

// Mean and variance with their 5σ tolerances (Gaussian samples).
struct Moments {
  double n = 0, s = 0, s2 = 0;
  void add(double x) { n += 1, s += x, s2 += x * x; }
  void reduce(const Comm& c) { n = c.sum(n), s = c.sum(s), s2 = c.sum(s2); }
  double mean() const { return s / n; }
  double var() const { return s2 / n - mean() * mean(); }
};

void expect_variance(const Moments& m, double expected, const char* what) {
  EXPECT_NEAR(m.mean(), 0.0, 5.0 * std::sqrt(expected / m.n)) << what;
  EXPECT_NEAR(m.var(), expected, 5.0 * expected * std::sqrt(2.0 / m.n)) << what;
}

const std::vector<double>& head(const AttentionSpec& s, int layer, int h, std::vector<double>& out, int N0) {
  const auto& w = s.layers[sz(layer)].w;
  out.assign(w.begin() + h * N0 * N0, w.begin() + (h + 1) * N0 * N0);
  return out;
}

}  // namespace

TEST(Markov, FeatureVectors) {
  const MarkovOptions o;
  const auto vp = markov_feature_vector(o, +1), vm = markov_feature_vector(o, -1);
  double pp = 0, mm = 0, pm = 0;
  for (int i = 0; i < o.feature_dim; ++i) pp += vp[sz(i)] * vp[sz(i)], mm += vm[sz(i)] * vm[sz(i)], pm += vp[sz(i)] * vm[sz(i)];
  EXPECT_NEAR(pp, 200.0, 1e-12);
  EXPECT_NEAR(mm, 200.0, 1e-12);
  EXPECT_EQ(pm, 0.0);
  EXPECT_EQ(vp[0], std::sqrt(2.0));
  EXPECT_EQ(vp[100], 0.0);
  EXPECT_EQ(vm[99], 0.0);
  EXPECT_EQ(vm[199], std::sqrt(2.0));
}

TEST(Markov, LayoutLabelsBosAndPositions) {
  MarkovOptions o = small(8, 6);
  o.validation_examples = 4;
  const Dataset d = generate_markov(o, test::world());
  const int T = 31, N0 = 231, F = 200;
  EXPECT_EQ(d.task, "markov");
  EXPECT_EQ(d.tokens, T);
  EXPECT_EQ(d.token_dim, N0);
  ASSERT_TRUE(d.validation.has_value());
  for (const ExampleSet* set : {&d.train, &d.test, &*d.validation}) {
    EXPECT_EQ(set->local.begin, block_range(set->count, test::world().rank(), test::world().size()).begin);
    ASSERT_EQ(set->x.size(), sz(set->local.size() * T * N0));
    for (std::int64_t mu = 0; mu < set->local.size(); ++mu) {
      const std::int64_t global = set->local.begin + mu;
      EXPECT_EQ(set->y[sz(mu)], global < set->count / 2 ? 1.0 : -1.0) << set->name << " example " << global;
      const double* x = set->x.data() + mu * T * N0;
      for (int s = 0; s < T; ++s) {
        double features = 0;
        for (int i = 0; i < F; ++i) features += std::abs(x[s * N0 + i]);
        if (s == 0) EXPECT_EQ(features, 0.0) << "BOS must have zero features";
        else EXPECT_GT(features, 0.0);
        for (int p = 0; p < T; ++p) EXPECT_EQ(x[s * N0 + F + p], p == s ? 1.0 : 0.0) << "token " << s << " position " << p;
      }
    }
  }
  EXPECT_EQ(d.attention.readout, Readout::last_token);
  EXPECT_EQ(d.attention.nonlinearity, Nonlinearity::softmax);
}

TEST(Markov, StayFractionsAndUniformFirstState) {
  const MarkovOptions o;
  const std::int64_t count = 4000;  // 2000 per class, 29 transitions each
  const Range mine = block_range(count, test::world().rank(), test::world().size());
  std::vector<double> x(sz(31 * 231));
  std::vector<int> st(30);
  double stays[2] = {0, 0}, moves[2] = {0, 0}, first_plus = 0;
  for (std::int64_t mu = mine.begin; mu < mine.end; ++mu) {
    const double y = markov_example(o, MarkovSet::train, count, mu, x.data(), st.data());
    const int c = y > 0 ? 0 : 1;
    first_plus += st[0] > 0;
    for (int t = 1; t < 30; ++t) (st[sz(t)] == st[sz(t - 1)] ? stays[c] : moves[c]) += 1;
  }
  const Comm& w = test::world();
  for (int c = 0; c < 2; ++c) stays[c] = w.sum(stays[c]), moves[c] = w.sum(moves[c]);
  first_plus = w.sum(first_plus);
  const double expected[2] = {o.stay_plus, o.stay_minus};
  for (int c = 0; c < 2; ++c) {
    const double n = stays[c] + moves[c];
    EXPECT_EQ(n, 2000.0 * 29.0);
    EXPECT_NEAR(stays[c] / n, expected[c], 5.0 * std::sqrt(expected[c] * (1 - expected[c]) / n)) << "class " << c;
  }
  EXPECT_NEAR(first_plus / count, 0.5, 5.0 * std::sqrt(0.25 / count));
}

// noise = x_s − v_{σ_s}: its projections on e_∥, e_⊥ and out-of-plane directions have variances
// s_∥², s_⊥², s_oop² (docs/model.md §5.1), and the out-of-plane power per dimension is s_oop².
TEST(Markov, NoiseVariancePerDirection) {
  struct Case {
    double par, perp, oop;
  };
  for (const Case c : {Case{1, 1, 1}, Case{1, 1, 5}, Case{2, 3, 0.5}}) {
    MarkovOptions o;
    o.noise_parallel = c.par, o.noise_perpendicular = c.perp, o.noise_out_of_plane = c.oop;
    const int F = o.feature_dim, T = 31, N0 = 231;
    const std::int64_t count = 400;
    const Range mine = block_range(count, test::world().rank(), test::world().size());
    const auto vp = markov_feature_vector(o, +1), vm = markov_feature_vector(o, -1);
    std::vector<double> x(sz(T * N0));
    std::vector<int> st(30);
    Moments par, perp, u1, u2, cross;
    double oop_power = 0, oop_count = 0;
    for (std::int64_t mu = mine.begin; mu < mine.end; ++mu) {
      markov_example(o, MarkovSet::test, count, mu, x.data(), st.data());
      for (int s = 1; s < T; ++s) {
        std::vector<double> n(sz(F));
        for (int i = 0; i < F; ++i) n[sz(i)] = x[sz(s * N0 + i)] - (st[sz(s - 1)] > 0 ? vp : vm)[sz(i)];
        double a = 0, b = 0, norm2 = 0;
        for (int i = 0; i < F; ++i) {
          a += n[sz(i)] / std::sqrt(double{200});                        // e_∥ = 1/√F
          b += (i < F / 2 ? 1.0 : -1.0) * n[sz(i)] / std::sqrt(double{200});  // e_⊥ = ±1/√F
          norm2 += n[sz(i)] * n[sz(i)];
        }
        par.add(a);
        perp.add(b);
        cross.add(a * b);
        u1.add((n[0] - n[1]) / std::sqrt(2.0));        // ⟂ e_∥, e_⊥ (first half)
        u2.add((n[150] - n[199]) / std::sqrt(2.0));    // ⟂ e_∥, e_⊥ (second half)
        oop_power += norm2 - a * a - b * b;
        oop_count += F - 2;
      }
    }
    for (Moments* m : {&par, &perp, &u1, &u2, &cross}) m->reduce(test::world());
    oop_power = test::world().sum(oop_power), oop_count = test::world().sum(oop_count);
    expect_variance(par, c.par * c.par, "e_par");
    expect_variance(perp, c.perp * c.perp, "e_perp");
    expect_variance(u1, c.oop * c.oop, "out of plane u1");
    expect_variance(u2, c.oop * c.oop, "out of plane u2");
    EXPECT_NEAR(cross.mean(), 0.0, 5.0 * c.par * c.perp / std::sqrt(cross.n)) << "e_par and e_perp noise correlated";
    // Σ over F−2 out-of-plane directions of N(0, s_oop²): relative sd sqrt(2/count).
    EXPECT_NEAR(oop_power / oop_count, c.oop * c.oop, 5.0 * c.oop * c.oop * std::sqrt(2.0 / oop_count));
  }
}

TEST(Markov, HandBuiltHeads) {
  MarkovOptions o;
  o.perturbation = 0.5;
  const int F = 200, P = 31, N0 = 231;
  const double beta = o.beta;
  const AttentionSpec s = markov_attention(o);
  std::vector<double> w;
  // good: β q q^T on features (q = (v+ − v−)/F), β Pos on positions, nothing across.
  head(s, 0, 0, w, N0);
  const auto vp = markov_feature_vector(o, +1), vm = markov_feature_vector(o, -1);
  for (int i = 0; i < N0; ++i)
    for (int j = 0; j < N0; ++j) {
      double expected = 0;
      if (i < F && j < F) expected = beta * (vp[sz(i)] - vm[sz(i)]) / F * (vp[sz(j)] - vm[sz(j)]) / F;
      if (i >= F && j >= F) {
        const int ks = i - F, qt = j - F;
        if (ks == 0 && qt >= 1) expected = 1.5 * beta;
        if (ks >= 1 && qt == ks + 1) expected = beta;
      }
      ASSERT_NEAR(w[sz(i * N0 + j)], expected, 1e-15) << "good head entry " << i << "," << j;
    }
  // uniform: β on every position pair, zero elsewhere.
  head(s, 1, 0, w, N0);
  for (int i = 0; i < N0; ++i)
    for (int j = 0; j < N0; ++j) ASSERT_EQ(w[sz(i * N0 + j)], i >= F && j >= F ? beta : 0.0);
  // random with p: entries ~ N(0, (βp/F)²) features, N(0, (βp)²) positions, N(0, (βp)²/F) across.
  for (int layer : {0, 1}) {
    head(s, layer, 1, w, N0);
    Moments feat, pos, cross;
    for (int i = 0; i < N0; ++i)
      for (int j = 0; j < N0; ++j) {
        const double v = w[sz(i * N0 + j)];
        if (i < F && j < F) feat.add(v);
        else if (i >= F && j >= F) pos.add(v);
        else cross.add(v);
      }
    const double p = o.perturbation;
    expect_variance(feat, std::pow(beta * p / F, 2), "random head features");
    expect_variance(pos, std::pow(beta * p, 2), "random head positions");
    expect_variance(cross, std::pow(beta * p, 2) / F, "random head cross blocks");
    EXPECT_EQ(feat.n + pos.n + cross.n, double{N0} * N0);
    EXPECT_EQ(pos.n, double{P} * P);
  }
}

TEST(Markov, HeadSets) {
  MarkovOptions o = small();
  auto spec = [&](const std::string& heads) {
    o.heads = heads;
    return markov_attention(o);
  };
  const auto four = spec("4paths"), two = spec("2paths"), good = spec("good"), gd = spec("good+denoising");
  EXPECT_EQ(four.heads(), (std::vector<int>{2, 2}));
  EXPECT_EQ(four.path_labels, (std::vector<std::string>{"g", "a1", "d", "a2"}));
  EXPECT_EQ(two.heads(), (std::vector<int>{2, 1}));
  EXPECT_EQ(two.path_labels, (std::vector<std::string>{"g", "d"}));
  EXPECT_EQ(good.heads(), (std::vector<int>{1, 1}));
  EXPECT_EQ(good.path_labels, (std::vector<std::string>{"g"}));
  EXPECT_EQ(gd.heads(), (std::vector<int>{2, 1}));
  EXPECT_EQ(gd.path_labels, (std::vector<std::string>{"g", "d"}));
  const int N0 = 231;
  std::vector<double> a, b;
  // The same head slot with the same seed is the same matrix in every head set.
  EXPECT_EQ(head(gd, 0, 1, a, N0), head(four, 0, 1, b, N0)) << "random layer-1 head of good+denoising != 4paths'";
  EXPECT_EQ(head(good, 0, 0, a, N0), head(four, 0, 0, b, N0));
  EXPECT_EQ(head(two, 1, 0, a, N0), head(four, 1, 0, b, N0));
  EXPECT_NE(head(four, 0, 1, a, N0), head(four, 1, 1, b, N0)) << "the two random heads must differ (seeds 147, 247)";
  // 2paths: the blank head (p = 0) is W = 0, i.e. uniform attention.
  for (double v : head(two, 0, 1, a, N0)) ASSERT_EQ(v, 0.0);
  // Head seeds select the random heads; the data seed does not touch them.
  o.heads = "4paths";
  o.seed = 99;
  EXPECT_EQ(markov_attention(o).layers[0].w, four.layers[0].w);
  o.head_seeds_layer1 = {127, 148};
  EXPECT_NE(markov_attention(o).layers[0].w, four.layers[0].w);
}

TEST(Markov, SameDataForEveryHeadSet) {
  MarkovOptions o = small(8, 6);
  o.heads = "4paths";
  const Dataset ref = generate_markov(o, test::world());
  for (const std::string h : {"2paths", "good", "good+denoising"}) {
    o.heads = h;
    const Dataset d = generate_markov(o, test::world());
    EXPECT_EQ(d.train.x, ref.train.x) << h;
    EXPECT_EQ(d.train.y, ref.train.y) << h;
    EXPECT_EQ(d.test.x, ref.test.x) << h;
  }
  // Train and test use different streams; another data seed gives other data.
  o.seed = 28;
  EXPECT_NE(generate_markov(o, test::world()).train.x, ref.train.x);
}

TEST(Markov, GeneratedDataDoNotDependOnTheRankCount) {
  MarkovOptions o = small(100, 30);
  o.validation_examples = 10;
  const Comm& world = test::world();
  const Dataset dist = generate_markov(o, world);
  Comm self = world.split(world.rank(), 0);
  const Dataset one = generate_markov(o, self);  // the 1-rank generation of every row
  auto rows_equal = [](const ExampleSet& part, const ExampleSet& whole, int per) {
    ASSERT_EQ(whole.local.size(), whole.count);
    for (std::size_t i = 0; i < part.x.size(); ++i)
      ASSERT_EQ(part.x[i], whole.x[sz(part.local.begin * per) + i]) << part.name << " value " << i;  // bitwise
    for (std::size_t i = 0; i < part.y.size(); ++i) ASSERT_EQ(part.y[i], whole.y[sz(part.local.begin) + i]);
  };
  const int per = dist.tokens * dist.token_dim;
  rows_equal(dist.train, one.train, per);
  rows_equal(dist.test, one.test, per);
  rows_equal(*dist.validation, *one.validation, per);
  for (std::size_t l = 0; l < 2; ++l) EXPECT_EQ(dist.attention.layers[l].w, one.attention.layers[l].w);
  // And gathered over the ranks, the training set is the 1-rank one.
  EXPECT_EQ(world.allgather_blocks(dist.train.x), std::vector<double>(one.train.x.begin(), one.train.x.end()));
}

TEST(Markov, OptionValidation) {
  struct Bad {
    std::function<void(MarkovOptions&)> set;
    std::string needle;
  };
  const std::vector<Bad> bad{
      {[](MarkovOptions& o) { o.train_examples = 3; }, "--train-examples"},
      {[](MarkovOptions& o) { o.train_examples = 0; }, "--train-examples"},
      {[](MarkovOptions& o) { o.test_examples = -2; }, "--test-examples"},
      {[](MarkovOptions& o) { o.validation_examples = 5; }, "--validation-examples"},
      {[](MarkovOptions& o) { o.tokens = 0; }, "--tokens"},
      {[](MarkovOptions& o) { o.feature_dim = 7; }, "--feature-dim"},
      {[](MarkovOptions& o) { o.stay_plus = 1.5; }, "--stay-plus"},
      {[](MarkovOptions& o) { o.stay_minus = -0.1; }, "--stay-minus"},
      {[](MarkovOptions& o) { o.noise_parallel = -1; }, "--noise-parallel"},
      {[](MarkovOptions& o) { o.noise_perpendicular = NAN; }, "--noise-perpendicular"},
      {[](MarkovOptions& o) { o.noise_out_of_plane = -5; }, "--noise-out-of-plane"},
      {[](MarkovOptions& o) { o.beta = INFINITY; }, "--beta"},
      {[](MarkovOptions& o) { o.perturbation = -1; }, "--perturbation"},
      {[](MarkovOptions& o) { o.seed = -1; }, "--seed"},
      {[](MarkovOptions& o) { o.head_seeds_layer1 = {1}; }, "--head-seeds-layer1"},
      {[](MarkovOptions& o) { o.head_seeds_layer2 = {1, -2}; }, "--head-seeds-layer2"},
      {[](MarkovOptions& o) { o.heads = "3paths"; }, "unknown head set"},
  };
  for (const auto& b : bad) {
    MarkovOptions o;
    b.set(o);
    try {
      o.validate();
      ADD_FAILURE() << "no error for " << b.needle;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(b.needle), std::string::npos) << e.what();
    }
    EXPECT_THROW(generate_markov(o, test::world()), InputError) << b.needle;
  }
  MarkovOptions ok;
  EXPECT_NO_THROW(ok.validate());
  const Config c = ok.to_config();
  ASSERT_NE(c.find("head_seeds_layer2"), nullptr);
  EXPECT_EQ(Config::to_string(*c.find("head_seeds_layer2")), "217,247");
  EXPECT_EQ(Config::to_string(*c.find("task")), "markov");
  EXPECT_EQ(Config::to_string(*c.find("stay_plus")), "0.7");
  for (const char* key : {"train_examples", "test_examples", "validation_examples", "tokens", "feature_dim", "stay_minus",
                          "noise_parallel", "noise_perpendicular", "noise_out_of_plane", "beta", "perturbation", "seed",
                          "head_seeds_layer1", "heads"})
    EXPECT_NE(c.find(key), nullptr) << key;
}
