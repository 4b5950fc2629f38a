#include "attnpaths/robustness/robustness_run.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "attnpaths/core/eigen.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/io/run_record.hpp"
#include "attnpaths/results/theory_file.hpp"
#include "attnpaths/model/path_inputs.hpp"
#include "attnpaths/predict/predictor.hpp"
#include "attnpaths/robustness/lipschitz.hpp"
#include "attnpaths/robustness/stability.hpp"
#include "attnpaths/theory/order_parameters.hpp"

namespace attnpaths {

void RobustnessOptions::validate() const {
  ATTN_REQUIRE(!data.empty(), UsageError, "--data FILE is required");
  ATTN_REQUIRE(!theory.empty(), UsageError, "--theory FILE is required");
  ATTN_REQUIRE(!output.empty(), UsageError, "-o/--output FILE is required");
  ATTN_REQUIRE(!epsilons.empty(), InputError, "--epsilons needs at least one value");
  ATTN_REQUIRE(std::any_of(perturbations.begin(), perturbations.end(), [](const auto& p) { return !p.empty(); }),
               InputError,
               "--perturbations is empty (choose from gaussian, replace, adversarial)");
  for (const auto& p : perturbations) parse_perturbation(p);
  for (double e : epsilons) {
    ATTN_REQUIRE(e >= 0 && std::isfinite(e), InputError, "--epsilons must be ≥ 0 and finite (got {})", e);
    ATTN_REQUIRE(e <= 1 || std::find(perturbations.begin(), perturbations.end(), "replace") == perturbations.end(),
                 InputError, "--epsilons: {} is not a fraction of tokens in [0, 1], which 'replace' needs", e);
  }
  for (auto w : widths) ATTN_REQUIRE(w > 0, InputError, "--widths must be positive (got {})", w);
  ATTN_REQUIRE(temperature >= 0 && std::isfinite(temperature), InputError,
               "--temperature must be positive (or 0 for the theory file's first), got {}", temperature);
  ATTN_REQUIRE(test_examples >= 0, InputError, "--test-examples must be ≥ 0 (0: all)");
  ATTN_REQUIRE(adversarial_steps >= 1, InputError, "--adversarial-steps must be ≥ 1");
  ATTN_REQUIRE(lipschitz.examples >= 0 && lipschitz.random_directions >= 0 && lipschitz.power_iterations >= 0 &&
                   lipschitz.ascent_steps >= 0,
               InputError, "the --lipschitz-* counts must be ≥ 0");
}

Config RobustnessOptions::to_config() const {
  Config c;
  c.set("command", "robustness");
  c.set("data", data);
  c.set("theory", theory);
  c.set("output", output);
  c.set("overwrite", overwrite);
  c.set("widths", ConfigValue(widths));
  c.set("temperature", temperature);
  c.set("epsilons", epsilons);
  c.set("perturbations", perturbations);
  c.set("test_examples", test_examples);
  c.set("adversarial_steps", adversarial_steps);
  c.set("lipschitz_examples", lipschitz.examples);
  c.set("lipschitz_random_directions", lipschitz.random_directions);
  c.set("lipschitz_power_iterations", lipschitz.power_iterations);
  c.set("lipschitz_ascent_steps", lipschitz.ascent_steps);
  c.set("seed", static_cast<std::int64_t>(seed));
  return c;
}

RobustnessRun::RobustnessRun(RobustnessOptions options, const Comm& comm, std::vector<std::string> command_line)
    : options_(std::move(options)), comm_(comm), command_line_(std::move(command_line)) {}

namespace {


// The part of a theory file (docs/files.md §2) the predictor needs, checked against the dataset.
struct TheoryPoint {
  std::vector<std::int64_t> widths;  // chosen widths
  double temperature = 0;
  std::vector<Eigen::MatrixXd> U1;   // one per chosen width
  std::vector<double> variances;     // σ0², …, σa²
  std::string checksum;
};

TheoryPoint read_theory(const RobustnessOptions& o, const Dataset& data, const Comm& comm) {
  const TheoryResults r = read_theory_file(o.theory, comm);
  ATTN_REQUIRE(r.data_checksum == data.checksum, InputError,
               "theory file '{}' was computed from a different dataset (its /data checksum {} != {} of '{}')", o.theory,
               r.data_checksum, data.checksum, o.data);
  const int H = data.attention.paths();
  ATTN_REQUIRE(r.paths == H && r.token_dim == data.token_dim, InputError,
               "theory file '{}' has H_tot = {}, N0 = {}; the dataset '{}' H_tot = {}, N0 = {}", o.theory, r.paths,
               r.token_dim, o.data, H, data.token_dim);
  TheoryPoint t;
  t.checksum = file_checksum(o.theory, comm);
  t.variances = r.variances;
  ATTN_REQUIRE(!r.temperatures.empty(), InputError, "theory file '{}' has no temperatures", o.theory);
  const int it = o.temperature > 0 ? r.temperature_index(o.temperature) : 0;
  ATTN_REQUIRE(it >= 0, InputError, "--temperature {} is not in the grid [{}] of '{}'", o.temperature,
               fmt::join(r.temperatures, ", "), o.theory);
  t.temperature = r.temperatures[sz(it)];
  t.widths = o.widths.empty() ? r.widths : o.widths;
  for (auto w : t.widths) {
    const std::size_t iw = sz(std::find(r.widths.begin(), r.widths.end(), w) - r.widths.begin());
    ATTN_REQUIRE(iw < r.widths.size(), InputError, "--widths: {} is not in the grid [{}] of '{}'", w,
                 fmt::join(r.widths, ", "), o.theory);
    const std::size_t at = r.grid_index(sz(it), iw), h = sz(H);
    ATTN_REQUIRE(r.converged[at] == 1, InputError, "theory file '{}': N = {}, Temp = {} did not converge", o.theory, w,
                 t.temperature);
    t.U1.push_back(from_row_major(r.U1.data() + at * h * h, H, H));
  }
  return t;
}

// n examples spread evenly over a set (example j is ⌊j·count/n⌋, so that a class-sorted set stays
// balanced; n = 0: all), each rank keeping the chosen rows it owns.
ExampleSet spread_examples(const ExampleSet& s, std::int64_t n, int T, int N0) {
  if (n <= 0 || n >= s.count) return s;
  const auto row_of = [&](std::int64_t j) { return j * s.count / n; };
  // #{j : ⌊j·count/n⌋ < mu} = ⌈mu·n/count⌉
  const auto chosen_before = [&](std::int64_t mu) { return std::min(n, (mu * n + s.count - 1) / s.count); };
  ExampleSet out;
  out.name = s.name;
  out.count = n;
  out.local = {chosen_before(s.local.begin), chosen_before(s.local.end)};
  const std::size_t per = sz(T) * sz(N0);
  for (std::int64_t j = out.local.begin; j < out.local.end; ++j) {
    const std::int64_t row = row_of(j) - s.local.begin;
    out.x.insert(out.x.end(), s.x.begin() + static_cast<std::ptrdiff_t>(sz(row) * per),
                 s.x.begin() + static_cast<std::ptrdiff_t>(sz(row + 1) * per));
    out.y.push_back(s.y[sz(row)]);
  }
  return out;
}

// Accuracy, bias, variance and mean |f̄(x+δ) − f̄(x)| of one predictor over [perturbation, ε].
struct Curves {
  std::vector<double> accuracy, bias, variance, mean_shift;
  std::vector<double> weight_norm;  // ‖u_π‖ per path: how the mean predictor weighs each path input
  double lipschitz_bound = 0;       // Σ_π ‖u_π‖ · (P)_π: |f̄(x') − f̄(x)| ≤ this · d∞(x, x') on B_R
  void add(const PredictorStatistics& st, const PredictorStatistics& clean, std::int64_t count, const Comm& comm) {
    double shift = 0;
    for (std::size_t i = 0; i < st.mean.size(); ++i) shift += std::abs(st.mean[i] - clean.mean[i]);
    accuracy.push_back(st.accuracy);
    bias.push_back(st.bias);
    variance.push_back(st.variance);
    mean_shift.push_back(comm.sum(shift) / static_cast<double>(count));
  }
};

void write_curves(const h5::File& f, const std::string& base, const h5::Dims& dims, const std::vector<Curves>& c) {
  auto flat = [&](std::vector<double> Curves::*m) {
    std::vector<double> v;
    for (const auto& x : c) v.insert(v.end(), (x.*m).begin(), (x.*m).end());
    return v;
  };
  f.write<double>(base + "/accuracy", dims, flat(&Curves::accuracy));
  f.write<double>(base + "/bias", dims, flat(&Curves::bias));
  f.write<double>(base + "/variance", dims, flat(&Curves::variance));
  f.write<double>(base + "/mean_shift", dims, flat(&Curves::mean_shift));
  h5::Dims wdims(dims.begin(), dims.end() - 2);
  wdims.push_back(c.front().weight_norm.size());
  f.write<double>(base + "/path_weight_norm", wdims, flat(&Curves::weight_norm));
  std::vector<double> bounds;
  for (const auto& x : c) bounds.push_back(x.lipschitz_bound);
  f.write<double>(base + "/lipschitz_bound", h5::Dims(dims.begin(), dims.end() - 2), bounds);
}

void write_ratios(const h5::File& f, const std::string& base, const RatioTable& t) {
  const h5::Dims n{t.worst.size()};
  f.write<double>(base + "/random_frobenius", n, t.random_frobenius);
  f.write<double>(base + "/adversarial_frobenius", n, t.adversarial_frobenius);
  f.write<double>(base + "/random_transport", n, t.random_transport);
  f.write<double>(base + "/adversarial_transport", n, t.adversarial_transport);
  f.write<double>(base + "/worst_ratio", n, t.worst);
}

}  // namespace

namespace {

// 3–4. Bounds at the data radius R and the empirical constants; writes /lipschitz. Returns the
// worst measured ratio / bound.
double lipschitz_stage(const h5::File& f, const Dataset& data, const ScoreMatrices& scores, double R,
                       const ExampleSet& test, const EmpiricalOptions& o, const Comm& comm, const Log& log,
                       std::vector<double>& bp) {
  const AttentionSpec& att = data.attention;
  const int T = data.tokens, N0 = data.token_dim;
  std::vector<std::int64_t> layer, head;
  std::vector<double> norm, bf, bt;
  bp.clear();
  for (int l = 0; l < att.depth(); ++l)
    for (int h = 0; h < att.layers[sz(l)].heads; ++h) {
      layer.push_back(l + 1);
      head.push_back(h);
      norm.push_back(scores.norm[sz(l)][sz(h)]);
      bf.push_back(head_bound_frobenius(T, R, norm.back()));
      bt.push_back(head_bound_transport(R, norm.back()));
    }
  for (int pi = 0; pi < att.paths(); ++pi) bp.push_back(path_bound(R, scores.norms_on_path(att, pi)));
  const EmpiricalConstants e = measure_lipschitz(test, att, scores, T, N0, o, comm);
  f.create_group("lipschitz").set_attr("radius", R);
  f.group("lipschitz").set_attr("examples", e.examples);
  const h5::Dims nh{layer.size()}, np{bp.size()};
  f.write<std::int64_t>("lipschitz/heads/layer", nh, layer);
  f.write<std::int64_t>("lipschitz/heads/head", nh, head);
  f.write<double>("lipschitz/heads/score_norm", nh, norm);
  f.write<double>("lipschitz/heads/bound_frobenius", nh, bf);
  f.write<double>("lipschitz/heads/bound_transport", nh, bt);
  write_ratios(f, "lipschitz/heads", e.heads);
  f.write<double>("lipschitz/paths/bound", np, bp);
  write_ratios(f, "lipschitz/paths", e.paths);
  double worst = 0;
  for (double w : e.heads.worst) worst = std::max(worst, w);
  for (double w : e.paths.worst) worst = std::max(worst, w);
  f.group("lipschitz").set_attr("worst_ratio", worst);
  log.info("Lipschitz constants on B_R, R = {:.4g} ({} test examples): bound | largest measured ratio (F / transport)",
           R, e.examples);
  for (std::size_t i = 0; i < layer.size(); ++i)
    log.info("  head {}.{}: ‖W‖ = {:.4g}  F {:.4g} | {:.4g}   transport {:.4g} | {:.4g}", layer[i], head[i], norm[i],
             bf[i], std::max(e.heads.random_frobenius[i], e.heads.adversarial_frobenius[i]), bt[i],
             std::max(e.heads.random_transport[i], e.heads.adversarial_transport[i]));
  for (std::size_t i = 0; i < bp.size(); ++i)
    log.info("  path {}: {:.4g} | {:.4g} (F) {:.4g} (d∞)", i, bp[i],
             std::max(e.paths.random_frobenius[i], e.paths.adversarial_frobenius[i]),
             std::max(e.paths.random_transport[i], e.paths.adversarial_transport[i]));
  log.info("  worst measured / bound = {:.3g}{}", worst, worst > 1 ? "  ** BOUND VIOLATED **" : "");
  return worst;
}

// 6. Curves [perturbation][ε] of the predictor the kernel is factorised with. Gaussian and replace
// path inputs do not depend on the predictor and are cached across predictors.
Curves predictor_curves(RenormalizedKernel& kernel, const Dataset& data, const ExampleSet& test,
                        const std::vector<Perturbation>& kinds, const std::vector<double>& eps,
                        PerturbationContext ctx, std::map<std::pair<int, std::size_t>, PathInputs>& cache,
                        const std::vector<double>& path_bounds, const Comm& comm) {
  const int T = data.tokens, N0 = data.token_dim;
  const std::vector<double> u = mean_predictor_weights(kernel, data.attention.paths(), N0, comm);
  ctx.mean_weights = &u;
  const PredictorStatistics clean = predictor_statistics(kernel, compute_path_inputs(test, data.attention, T, N0), comm);
  Curves c;
  for (std::size_t pi = 0; pi < path_bounds.size(); ++pi) {  // |f̄(x') − f̄(x)| ≤ Σ_π ‖u_π‖ ‖Δx̃_π‖
    double n2 = 0;
    for (int i = 0; i < N0; ++i) n2 += u[pi * sz(N0) + sz(i)] * u[pi * sz(N0) + sz(i)];
    c.weight_norm.push_back(std::sqrt(n2));
    c.lipschitz_bound += c.weight_norm.back() * path_bounds[pi];
  }
  for (const Perturbation p : kinds)
    for (std::size_t i = 0; i < eps.size(); ++i) {
      const auto key = std::make_pair(static_cast<int>(p), i);
      PathInputs fresh;
      const PathInputs* in = &fresh;
      if (p != Perturbation::adversarial && cache.count(key)) {
        in = &cache.at(key);
      } else {
        fresh = compute_path_inputs(perturb(test, p, eps[i], ctx), data.attention, T, N0);
        if (p != Perturbation::adversarial) in = &(cache[key] = std::move(fresh));
      }
      c.add(predictor_statistics(kernel, *in, comm), clean, test.count, comm);
    }
  return c;
}


void write_data_group(const h5::File& f, const Dataset& data, const RobustnessOptions& o, std::int64_t Q) {
  const auto d = f.create_group("data");
  write_dataset_description(d, data, o.data);
  d.set_attr("theory", o.theory);
  d.set_attr("Q", Q);
}

// /curves (docs/robustness.md §5).
void write_all_curves(const h5::File& f, const RobustnessOptions& o, const TheoryPoint& th, const Curves& gp,
                      const std::vector<Curves>& theory, int H) {
  const hsize_t nP = o.perturbations.size(), nE = o.epsilons.size(), nW = th.widths.size();
  {
    const auto c = f.create_group("curves");
    c.set_attr("temperature", th.temperature);
    c.set_attr("perturbations", o.perturbations);
  }
  f.write<double>("curves/epsilons", {nE}, o.epsilons);
  f.write<std::int64_t>("curves/widths", {nW}, th.widths);
  write_curves(f, "curves/gp", {nP, nE}, {gp});
  if (!nW) return;
  write_curves(f, "curves/theory", {nW, nP, nE}, theory);
  std::vector<double> u1;
  for (const auto& U : th.U1)
    for (int a = 0; a < H; ++a)
      for (int b = 0; b < H; ++b) u1.push_back(U(a, b));
  f.write<double>("curves/theory_U1", {nW, static_cast<hsize_t>(H), static_cast<hsize_t>(H)}, u1);
}

// The summary on rank 0: path weights and the predictor bound, then accuracy against ε.
void log_curves(const Log& log, const RobustnessOptions& o, const TheoryPoint& th, const Curves& gp,
                const std::vector<Curves>& theory, std::int64_t Q) {
  const std::size_t nE = o.epsilons.size();
  log.info("mean predictor f̄ = Σ_π u_π·x̃_π: ‖u_π‖ per path, and the bound Σ_π ‖u_π‖·(P)_π on its Lipschitz constant");
  log.info("  GP:      [{:.4g}]  bound {:.4g}", fmt::join(gp.weight_norm, ", "), gp.lipschitz_bound);
  for (std::size_t w = 0; w < th.widths.size(); ++w)
    log.info("  N = {:<4} [{:.4g}]  bound {:.4g}", th.widths[w], fmt::join(theory[w].weight_norm, ", "),
             theory[w].lipschitz_bound);
  std::string head;
  for (auto w : th.widths) head += fmt::format(" {:>8}", fmt::format("N={}", w));
  for (std::size_t p = 0; p < o.perturbations.size(); ++p) {
    log.info("accuracy under '{}' perturbations (Temp = {:g}, {} test examples)", o.perturbations[p], th.temperature,
             Q);
    log.info("  {:>8} {:>8}{}", "epsilon", "GP", head);
    for (std::size_t i = 0; i < nE; ++i) {
      std::string s;
      for (const auto& t : theory) s += fmt::format(" {:>8.3f}", t.accuracy[p * nE + i]);
      log.info("  {:>8g} {:>8.3f}{}", o.epsilons[i], gp.accuracy[p * nE + i], s);
    }
  }
}

}  // namespace

void RobustnessRun::run() {
  options_.validate();
  const Log log(comm_);
  StageTimers timers;
  Provenance provenance = Provenance::collect(comm_, command_line_);
  Config config = options_.to_config();
  config.echo(log, "attnpaths robustness — resolved options:");
  // The exclusive right to write the output (refuses an input, a complete result without --overwrite,
  // and a second writer); held until the file is committed.
  const h5::OutputClaim claim =
      h5::OutputFile::claim(options_.output, comm_, {options_.overwrite, false, {options_.data, options_.theory}});
  // 1. Dataset and the theory point (checked against each other).
  Dataset data;
  TheoryPoint th;
  {
    auto s = timers.stage("load");
    data = read_dataset(options_.data, comm_);
    th = read_theory(options_, data, comm_);
  }
  const AttentionSpec& att = data.attention;
  ATTN_REQUIRE(att.nonlinearity == Nonlinearity::softmax, InputError,
               "'{}' uses hardmax attention: it is not continuous, so it has no Lipschitz bound", options_.data);
  const int T = data.tokens, N0 = data.token_dim, H = att.paths();
  config.set("data_checksum", data.checksum);
  config.set("theory_checksum", th.checksum);
  config.set("temperature_resolved", th.temperature);
  config.set("widths_resolved", ConfigValue(th.widths));
  const ExampleSet test = spread_examples(data.test, options_.test_examples, T, N0);
  std::vector<Perturbation> kinds;
  for (const auto& p : options_.perturbations) kinds.push_back(parse_perturbation(p));

  h5::OutputFile output(options_.output, comm_);
  const h5::File& f = output.file();
  write_format(f, "attnpaths-robustness", 1);
  write_config(f, config);
  write_data_group(f, data, options_, test.count);

  // 2–4. Radius of the data, bounds, empirical constants.
  const ScoreMatrices scores = ScoreMatrices::of(att, N0);
  double worst = 0;
  std::vector<double> path_bounds;
  {
    auto s = timers.stage("lipschitz");
    const double R = std::max(token_radius(data.train, T, N0, comm_), token_radius(data.test, T, N0, comm_));
    worst = lipschitz_stage(f, data, scores, R, test, options_.lipschitz, comm_, log, path_bounds);
  }
  // 5. The kernel of the training set; 6. curves for the GP and each width.
  const PathInputs train = compute_path_inputs(data.train, att, T, N0);
  const auto kernel = make_renormalized_kernel(KernelForm::automatic, train, th.variances.front(), comm_);
  const TokenMoments moments = TokenMoments::of(test, T, N0, comm_);
  PerturbationContext ctx{&att, &scores, &moments, nullptr, T, N0, options_.adversarial_steps, options_.seed};
  std::map<std::pair<int, std::size_t>, PathInputs> cache;
  std::vector<Curves> theory;
  Curves gp;
  {
    auto s = timers.stage("stability");
    kernel->factor(gp_U1(th.variances, H), th.temperature);
    gp = predictor_curves(*kernel, data, test, kinds, options_.epsilons, ctx, cache, path_bounds, comm_);
    for (const auto& U : th.U1) {
      kernel->factor(U, th.temperature);
      theory.push_back(predictor_curves(*kernel, data, test, kinds, options_.epsilons, ctx, cache, path_bounds, comm_));
    }
  }
  // 7. Curves, provenance, commit.
  write_all_curves(f, options_, th, gp, theory, H);
  provenance.finish();
  write_provenance(f, provenance, timers);
  output.commit();

  log_curves(log, options_, th, gp, theory, test.count);
  log.info("wrote {}", options_.output);
  // A measurement above its bound is a bug in one of the two: the file is kept, the run fails.
  ATTN_REQUIRE(worst <= 1.0, NumericalError,
               "a measured Lipschitz ratio exceeds its bound by a factor {} (see /lipschitz/*/worst_ratio in '{}')",
               worst, options_.output);
}

}  // namespace attnpaths
