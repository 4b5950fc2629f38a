#include "attnpaths/prune/prune_run.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <set>

#include "attnpaths/core/index.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/io/file_notes.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/io/run_record.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"
#include "attnpaths/model/path_inputs.hpp"
#include "attnpaths/predict/predictor.hpp"
#include "attnpaths/prune/heads.hpp"
#include "attnpaths/prune/network_side.hpp"
#include "attnpaths/prune/theory_point.hpp"

namespace attnpaths {

void PruneOptions::validate() const {
  ATTN_REQUIRE(!data.empty(), UsageError, "--data FILE is required");
  ATTN_REQUIRE(!theory.empty(), UsageError, "--theory FILE is required");
  ATTN_REQUIRE(!output.empty(), UsageError, "-o/--output FILE is required");
  ATTN_REQUIRE(width > 0, InputError, "--width must be positive (got {})", width);
  ATTN_REQUIRE(temperature >= 0 && std::isfinite(temperature), InputError,
               "--temperature must be positive (or 0: chosen from the selection or validation), got {}", temperature);
  ATTN_REQUIRE(random_orders >= 1, InputError, "--random-orders must be at least 1 (got {})", random_orders);
}

Config PruneOptions::to_config() const {
  Config c;
  c.set("command", "prune");
  c.set("data", data);
  c.set("theory", theory);
  c.set("model", model);
  c.set("output", output);
  c.set("selection", selection);
  c.set("width", width);
  c.set("temperature", temperature);
  c.set("random_orders", random_orders);
  c.set("seed", static_cast<std::int64_t>(seed));
  c.set("overwrite", overwrite);
  c.set("quiet", quiet);
  return c;
}

PruneRun::PruneRun(PruneOptions options, const Comm& comm, std::vector<std::string> command_line)
    : options_(std::move(options)), comm_(comm), command_line_(std::move(command_line)) {}

namespace {


using Sets = std::vector<Evaluation>;  // one per evaluation set
using Evaluator = std::function<Sets(const std::vector<HeadRef>&)>;

// An evaluator remembered by the SET of removed heads (orders that share a prefix set share it).
// Reports progress against `total` distinct head sets.
class Memo {
 public:
  Memo(Evaluator f, const Log& log, const std::string& what, std::size_t total)
      : f_(std::move(f)), progress_(log, what, static_cast<long>(total), 10.0) {}
  const Sets& operator()(std::vector<HeadRef> removed) {
    std::sort(removed.begin(), removed.end());
    std::string key;  // "l:h," of the sorted heads
    for (const auto& [l, h] : removed) key += std::to_string(l) + ":" + std::to_string(h) + ",";
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      it = cache_.emplace(key, f_(removed)).first;
      progress_.update(static_cast<long>(cache_.size()), "head sets");
    }
    return it->second;
  }
  std::size_t evaluations() const { return cache_.size(); }

 private:
  Evaluator f_;
  Progress progress_;
  std::map<std::string, Sets> cache_;
};

// The head sets every side is evaluated on.
struct Plan {
  HeadScores scores;
  std::vector<bool> removable;  // per head: its layer has more than one head
  std::vector<HeadRef> ascending, descending;
  std::vector<std::vector<HeadRef>> random;
};

Plan make_plan(const Eigen::MatrixXd& U1, const AttentionSpec& att, int orders, std::uint64_t seed) {
  Plan p;
  p.scores = head_scores(U1, att);
  for (const auto& [l, h] : p.scores.heads) p.removable.push_back(att.heads()[sz(l - 1)] > 1);
  p.ascending = removal_sequence(p.scores.ascending, att);
  p.descending = removal_sequence({p.scores.ascending.rbegin(), p.scores.ascending.rend()}, att);
  for (int r = 0; r < orders; ++r)
    p.random.push_back(removal_sequence(random_order(p.scores.heads, seed, static_cast<std::uint64_t>(r)), att));
  return p;
}

// The number of distinct head sets a side is evaluated on (for progress reports).
std::size_t distinct_head_sets(const Plan& p) {
  std::set<std::vector<HeadRef>> sets{{}};
  auto add = [&](std::vector<HeadRef> v) {
    std::sort(v.begin(), v.end());
    sets.insert(v);
  };
  for (std::size_t i = 0; i < p.scores.heads.size(); ++i)
    if (p.removable[i]) add({p.scores.heads[i]});
  for (const auto* seq : {&p.ascending, &p.descending})
    for (std::size_t k = 1; k <= seq->size(); ++k) add({seq->begin(), seq->begin() + std::ptrdiff_t(k)});
  for (const auto& seq : p.random)
    for (std::size_t k = 1; k <= seq.size(); ++k) add({seq.begin(), seq.begin() + std::ptrdiff_t(k)});
  return sets.size();
}

// Accuracies of one side: [K+1] along a sequence (k heads removed), per head, per random order.
struct Curves {
  Sets full;
  std::vector<Sets> single;  // per head; empty if the head cannot be removed
  std::vector<Sets> ascending, descending;
  std::vector<std::vector<Sets>> random;
};

std::vector<Sets> along(Memo& m, const std::vector<HeadRef>& seq) {
  std::vector<Sets> out;
  for (std::size_t k = 0; k <= seq.size(); ++k) out.push_back(m({seq.begin(), seq.begin() + std::ptrdiff_t(k)}));
  return out;
}

Curves compute_curves(Memo& m, const Plan& p) {
  Curves c;
  c.full = m({});
  for (std::size_t i = 0; i < p.scores.heads.size(); ++i) c.single.push_back(p.removable[i] ? m({p.scores.heads[i]}) : Sets{});
  c.ascending = along(m, p.ascending);
  c.descending = along(m, p.descending);
  for (const auto& seq : p.random) c.random.push_back(along(m, seq));
  return c;
}

// The theory side: U_1 with the paths through the removed heads zeroed, predictor on every set.
Evaluator theory_evaluator(RenormalizedKernel& kernel, const TheoryPoint& th, const AttentionSpec& att,
                           const std::vector<PathInputs>& sets, const Comm& comm) {
  return [&kernel, &th, &att, &sets, &comm](const std::vector<HeadRef>& removed) {
    kernel.factor(pruned_order_parameter(th.U1, att, removed), th.temperature);
    Sets out;
    for (const auto& s : sets) {
      const PredictorStatistics st = predictor_statistics(kernel, s, comm);
      out.push_back({s.set_name, s.count, st.accuracy, st.bias});
    }
    return out;
  };
}

Evaluator network_evaluator(const std::vector<NetworkPathTerms>& terms, const GdShape& shape) {
  return [&terms, &shape](const std::vector<HeadRef>& removed) {
    Sets out;
    for (const auto& t : terms) out.push_back(pruned_network_evaluation(t, shape, removed));
    return out;
  };
}

// Spearman ρ between the score and the single-head accuracy drop of set s (removable heads only).
double score_drop_correlation(const Curves& c, const Plan& p, std::size_t s) {
  std::vector<double> score, drop;
  for (std::size_t i = 0; i < p.scores.heads.size(); ++i)
    if (p.removable[i]) {
      score.push_back(p.scores.score[i]);
      drop.push_back(c.full[s].accuracy - c.single[i][s].accuracy);
    }
  return score.size() >= 2 ? spearman(score, drop) : std::nan("");
}

// ---------------------------------------------------------------------------------------------- output

struct Layout {
  int L = 0, Hmax = 0;
  std::size_t at(const HeadRef& h) const { return sz(h.first - 1) * sz(Hmax) + sz(h.second); }
  h5::Dims dims() const { return {hsize_t(L), hsize_t(Hmax)}; }
  std::vector<double> empty() const { return std::vector<double>(sz(L) * sz(Hmax), std::nan("")); }
};

std::vector<std::int64_t> flat_heads(const std::vector<HeadRef>& heads) {
  std::vector<std::int64_t> v;
  for (const auto& [l, h] : heads) {
    v.push_back(l);
    v.push_back(h);
  }
  return v;
}

std::vector<double> accuracies(const std::vector<Sets>& curve, std::size_t s) {
  std::vector<double> v;
  for (const auto& x : curve) v.push_back(x[s].accuracy);
  return v;
}

void write_heads(const h5::File& f, const Plan& p, const Layout& lay) {
  std::vector<double> score = lay.empty(), raw = lay.empty();
  for (std::size_t i = 0; i < p.scores.heads.size(); ++i) {
    score[lay.at(p.scores.heads[i])] = p.scores.score[i];
    raw[lay.at(p.scores.heads[i])] = p.scores.raw[i];
  }
  std::vector<std::int64_t> layers(sz(lay.L)), heads(sz(lay.Hmax));
  std::iota(layers.begin(), layers.end(), 1);
  std::iota(heads.begin(), heads.end(), 0);
  f.write<std::int64_t>("heads/layer", {hsize_t(lay.L)}, layers);
  f.write<std::int64_t>("heads/head", {hsize_t(lay.Hmax)}, heads);
  f.write<double>("heads/score", lay.dims(), score);
  f.write<double>("heads/score_raw", lay.dims(), raw);
  f.write<std::int64_t>("heads/order", {p.scores.heads.size(), 2}, flat_heads(p.scores.ascending));
  const hsize_t K = p.ascending.size(), R = p.random.size();
  std::vector<std::int64_t> removed(K + 1), random;
  std::iota(removed.begin(), removed.end(), 0);
  for (const auto& seq : p.random) {
    const auto v = flat_heads(seq);
    random.insert(random.end(), v.begin(), v.end());
  }
  f.write<std::int64_t>("pruning/removed", {K + 1}, removed);
  f.write<std::int64_t>("pruning/ascending_heads", {K, 2}, flat_heads(p.ascending));
  f.write<std::int64_t>("pruning/descending_heads", {K, 2}, flat_heads(p.descending));
  f.write<std::int64_t>("pruning/random_heads", {R, K, 2}, random);
}

void write_random(const h5::File& f, const std::string& g, const Curves& c, std::size_t s) {
  const hsize_t R = c.random.size(), K1 = c.ascending.size();
  std::vector<double> all, mean(K1, 0), sd(K1, 0), lo(K1, 1e300), hi(K1, -1e300);
  for (const auto& curve : c.random) {
    const auto a = accuracies(curve, s);
    all.insert(all.end(), a.begin(), a.end());
    for (std::size_t k = 0; k < K1; ++k) {
      mean[k] += a[k] / double(R);
      lo[k] = std::min(lo[k], a[k]);
      hi[k] = std::max(hi[k], a[k]);
    }
  }
  for (std::size_t k = 0; k < K1; ++k) {
    for (std::size_t r = 0; r < R; ++r) sd[k] += (all[r * K1 + k] - mean[k]) * (all[r * K1 + k] - mean[k]);
    sd[k] = R > 1 ? std::sqrt(sd[k] / double(R - 1)) : 0.0;
  }
  f.write<double>(g + "/random", {R, K1}, all);
  f.write<double>(g + "/random_mean", {K1}, mean);
  f.write<double>(g + "/random_std", {K1}, sd);
  f.write<double>(g + "/random_min", {K1}, lo);
  f.write<double>(g + "/random_max", {K1}, hi);
}

void write_side(const h5::File& f, const std::string& side, const Curves& c, const Plan& p, const Layout& lay) {
  for (std::size_t s = 0; s < c.full.size(); ++s) {
    const std::string g = "pruning/" + side + "/" + c.full[s].set;
    std::vector<double> single = lay.empty(), loss = lay.empty(), drop = lay.empty();
    for (std::size_t i = 0; i < p.scores.heads.size(); ++i)
      if (p.removable[i]) {
        const Evaluation& e = c.single[i][s];
        single[lay.at(p.scores.heads[i])] = e.accuracy;
        loss[lay.at(p.scores.heads[i])] = e.loss;
        drop[lay.at(p.scores.heads[i])] = c.full[s].accuracy - e.accuracy;
      }
    f.write_scalar<double>(g + "/full", c.full[s].accuracy);
    f.write_scalar<double>(g + "/full_loss", c.full[s].loss);
    f.write<double>(g + "/single", lay.dims(), single);
    f.write<double>(g + "/single_loss", lay.dims(), loss);
    f.write<double>(g + "/drop", lay.dims(), drop);
    f.write_scalar<double>(g + "/spearman", score_drop_correlation(c, p, s));
    f.write<double>(g + "/ascending", {c.ascending.size()}, accuracies(c.ascending, s));
    f.write<double>(g + "/descending", {c.descending.size()}, accuracies(c.descending, s));
    f.write_scalar<std::int64_t>(g + "/count", c.full[s].count);
    write_random(f, g, c, s);
  }
}

void write_matrix(const h5::File& f, const std::string& path, const Eigen::MatrixXd& U) {
  std::vector<double> v;
  for (Eigen::Index a = 0; a < U.rows(); ++a)
    for (Eigen::Index b = 0; b < U.cols(); ++b) v.push_back(U(a, b));
  f.write<double>(path, {hsize_t(U.rows()), hsize_t(U.cols())}, v);
}

void write_data_group(const h5::File& f, const PruneOptions& o, const Dataset& data, const TheoryPoint& th,
                      const std::string& model_checksum) {
  const auto d = f.create_group("data");
  write_dataset_description(d, data, o.data);
  d.set_attr("theory", o.theory);
  d.set_attr("theory_checksum", th.checksum);
  d.set_attr("model", o.model);
  d.set_attr("model_checksum", model_checksum);
  d.set_attr("width", th.width);
  d.set_attr("temperature", th.temperature);
  d.set_attr("temperature_rule", th.temperature_rule);
  std::vector<std::string> sets;
  for (const ExampleSet* s : data.evaluation_sets()) sets.push_back(s->name);
  d.set_attr("sets", sets);
}

std::string head_name(const HeadRef& h) { return fmt::format("{}:{}", h.first, h.second); }

// The acceptance numbers of docs/pruning.md for one side, on rank 0.
void log_side(const Log& log, const std::string& side, const Curves& c, const Plan& p) {
  const std::size_t K = p.ascending.size(), two = std::min<std::size_t>(2, K);
  for (std::size_t s = 0; s < c.full.size(); ++s) {
    const auto asc = accuracies(c.ascending, s), desc = accuracies(c.descending, s);
    std::vector<double> mean(K + 1, 0.0);
    for (const auto& curve : c.random)
      for (std::size_t k = 0; k <= K; ++k) mean[k] += curve[k][s].accuracy / double(c.random.size());
    int above = 0;
    for (std::size_t k = 1; k < K; ++k) above += asc[k] >= mean[k] ? 1 : 0;
    log.info("{} side, {} ({} examples): accuracy {:.4f}; Spearman rho(score, single-head drop) = {:.3f}", side,
             c.full[s].set, c.full[s].count, c.full[s].accuracy, score_drop_correlation(c, p, s));
    std::string single;
    for (const auto& h : p.scores.ascending) {
      const std::size_t i = sz(std::find(p.scores.heads.begin(), p.scores.heads.end(), h) - p.scores.heads.begin());
      if (p.removable[i]) single += fmt::format(" {}={:.3f}", head_name(h), c.single[i][s].accuracy);
    }
    log.info("  single head removed (ascending score):{}", single);
    log.info("  {} lowest-score heads removed: {:.4f};  {} highest: {:.4f}", two, asc[two], two, desc[two]);
    log.info("  progressive, k = 0..{}: score order [{:.3f}]", K, fmt::join(asc, ", "));
    log.info("                       random mean [{:.3f}]  (score order >= mean at {} of {} interior k)", fmt::join(mean, ", "),
             above, K > 1 ? K - 1 : 0);
  }
}

}  // namespace

namespace {

// Theory side: one factorisation of K(U_1 pruned) per distinct set of removed heads.
Curves theory_side(const Dataset& data, const TheoryPoint& th, const Plan& plan, const Log& log, const Comm& comm) {
  const AttentionSpec& att = data.attention;
  const PathInputs train = compute_path_inputs(data.train, att, data.tokens, data.token_dim);
  std::vector<PathInputs> sets;
  for (const ExampleSet* set : data.evaluation_sets())
    sets.push_back(compute_path_inputs(*set, att, data.tokens, data.token_dim));
  const auto kernel = make_renormalized_kernel(KernelForm::automatic, train, th.variances.front(), comm);
  Memo memo(theory_evaluator(*kernel, th, att, sets, comm), log, "theory side", distinct_head_sets(plan));
  Curves c = compute_curves(memo, plan);
  if (std::abs(c.full.front().accuracy - th.test_accuracy) > 1e-12)
    log.warn("the unpruned theory's test accuracy {} differs from the theory file's {}", c.full.front().accuracy,
             th.test_accuracy);
  return c;
}

// Network side: one forward pass per set, every head set from the per-path terms.
Curves network_side(const Dataset& data, const GdModel& model, const Plan& plan, const Log& log, const Comm& comm) {
  std::vector<NetworkPathTerms> terms;
  for (const ExampleSet* set : data.evaluation_sets()) {
    terms.push_back(network_path_terms(model, *set, comm));
    log.info("network side: forward pass over '{}' ({} examples) done", set->name, set->count);
  }
  Memo memo(network_evaluator(terms, model.shape), log, "network side", distinct_head_sets(plan));
  return compute_curves(memo, plan);
}

void write_results(const h5::File& f, const PruneOptions& o, const Dataset& data, const TheoryPoint& th,
                   const GdModel& model, const Plan& plan, const Curves& theory, const Curves& network) {
  const AttentionSpec& att = data.attention;
  const auto heads = att.heads();
  const Layout lay{att.depth(), *std::max_element(heads.begin(), heads.end())};
  write_heads(f, plan, lay);
  write_matrix(f, "theory/U1", th.U1);
  write_side(f, "theory", theory, plan, lay);
  if (o.model.empty()) return;
  const Eigen::MatrixXd U = gd_order_parameter(model);
  write_matrix(f, "gd/U1", U);
  write_matrix(f, "gd/U1_normalised", U / U.cwiseAbs().maxCoeff());
  write_side(f, "network", network, plan, lay);
}

void log_scores(const Log& log, const Plan& plan) {
  std::string order;
  for (const auto& h : plan.scores.ascending) {
    const std::size_t at = sz(std::find(plan.scores.heads.begin(), plan.scores.heads.end(), h) - plan.scores.heads.begin());
    order += fmt::format(" {}({:.3f})", head_name(h), plan.scores.score[at]);
  }
  log.info("head scores, ascending (layer:head(score)):{}", order);
}

}  // namespace

int PruneRun::run() {
  const PruneOptions& o = options_;
  o.validate();
  std::vector<std::string> inputs{o.data, o.theory};
  for (const auto& in : {o.model, o.selection})
    if (!in.empty()) inputs.push_back(in);
  const h5::OutputClaim claim = h5::OutputFile::claim(o.output, comm_, {o.overwrite, false, inputs});
  const Log log(comm_, o.quiet);
  StageTimers timers;
  Provenance provenance = Provenance::collect(comm_, command_line_);
  Config config = o.to_config();
  config.echo(log, "attnpaths prune — resolved options:");
  // 1. Dataset, theory point, model (checked against each other).
  Dataset data;
  TheoryPoint th;
  GdModel model;
  std::string model_checksum;
  {
    auto s = timers.stage("load");
    data = read_dataset(o.data, comm_);
    th = read_theory_point(o.theory, o.width, o.temperature, o.selection, data, comm_);
    if (!o.model.empty()) {
      model = read_model(o.model, comm_);
      check_model_attention(model, data.attention, o.data);
      model_checksum = file_checksum(o.model, comm_);
    }
  }
  config.set("data_checksum", data.checksum);
  config.set("theory_checksum", th.checksum);
  config.set("model_checksum", model_checksum);
  config.set("temperature_resolved", th.temperature);
  config.set("temperature_rule", th.temperature_rule);
  log.info("theory point: N = {}, Temp = {:g} ({}); {} heads, {} paths", th.width, th.temperature, th.temperature_rule,
           all_heads(data.attention).size(), data.attention.paths());
  const Plan plan = make_plan(th.U1, data.attention, o.random_orders, o.seed);
  log.info("{} distinct sets of removed heads per side", distinct_head_sets(plan));
  // 2–3. Both sides.
  Curves theory, network;
  {
    auto s = timers.stage("theory side");
    theory = theory_side(data, th, plan, log, comm_);
  }
  if (!o.model.empty()) {
    auto s = timers.stage("network side");
    network = network_side(data, model, plan, log, comm_);
  }
  // 4. Output, 5. summary.
  h5::OutputFile output(o.output, comm_);
  {
    auto s = timers.stage("write");
    const h5::File& f = output.file();
    write_format(f, "attnpaths-prune", 1);
    write_config(f, config);
    write_data_group(f, o, data, th, model_checksum);
    write_results(f, o, data, th, model, plan, theory, network);
    provenance.finish();
    write_provenance(f, provenance, timers);
    for (const auto& p : h5::annotate(f, prune_file_notes(), data.attention.labels()))
      log.warn("no description for dataset {} (docs/files.md)", p);
  }
  output.commit();
  log_scores(log, plan);
  log_side(log, "theory", theory, plan);
  if (!o.model.empty()) log_side(log, "network", network, plan);
  log.info("wrote {} ({:.2f} s)", o.output, provenance.wall_seconds);
  return 0;
}

}  // namespace attnpaths
