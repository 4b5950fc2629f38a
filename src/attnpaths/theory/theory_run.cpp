#include "attnpaths/theory/theory_run.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/runtime.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/io/file_notes.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/io/run_record.hpp"
#include "attnpaths/model/path_inputs.hpp"
#include "attnpaths/predict/predictor.hpp"
#include "attnpaths/results/theory_file.hpp"
#include "attnpaths/selection/selection.hpp"
#include "attnpaths/theory/action.hpp"
#include "attnpaths/theory/stream_inputs.hpp"

namespace attnpaths {

// ---------------------------------------------------------------------------------------------- options

void TheoryOptions::validate() const {
  ATTN_REQUIRE(!data.empty(), UsageError, "--data FILE is required");
  ATTN_REQUIRE(!output.empty(), UsageError, "-o/--output FILE is required");
  ATTN_REQUIRE(!temperatures.empty(), UsageError, "--temperatures needs at least one value");
  for (double t : temperatures)
    ATTN_REQUIRE(t > 0 && std::isfinite(t), InputError, "temperatures must be positive (got {})", t);
  if (!gp_only) {
    ATTN_REQUIRE(!widths.empty(), UsageError, "--widths needs at least one value (or use --gp-only)");
    for (auto w : widths) ATTN_REQUIRE(w > 0, InputError, "widths must be positive (got {})", w);
  }
  for (double v : variances)
    ATTN_REQUIRE(v > 0 && std::isfinite(v), InputError, "prior variances must be positive (got {})", v);
  for (double r : width_ratios)
    ATTN_REQUIRE(r > 0 && std::isfinite(r), InputError, "width ratios must be positive (got {})", r);
  parse_kernel_form(form);
  ATTN_REQUIRE(minimiser.grad_tol > 0, InputError, "--grad-tol must be positive (got {})", minimiser.grad_tol);
  ATTN_REQUIRE(minimiser.polish_tol >= 0, InputError, "--polish-tol must be non-negative");
  ATTN_REQUIRE(minimiser.max_iterations > 0, InputError, "--max-iterations must be positive");
  ATTN_REQUIRE(warm_start == "none" || warm_start == "temperature" || warm_start == "width", InputError,
               "--warm-start must be none, temperature or width (got '{}')", warm_start);
  ATTN_REQUIRE(alignment >= 0, InputError, "--alignment must be non-negative");
  ATTN_REQUIRE(kernel_subset >= 0, InputError, "--kernel-subset must be non-negative");
  ATTN_REQUIRE(block_mb > 0 && std::isfinite(block_mb), InputError, "--block-size must be positive (got {} MiB)", block_mb);
  std::vector<std::string> names;
  for (const auto& b : baselines) {
    const auto eq = b.find('=');
    ATTN_REQUIRE(eq != std::string::npos && eq > 0 && eq + 1 < b.size(), InputError,
                 "--gp-baseline expects NAME=FILE (got '{}')", b);
    const std::string name = b.substr(0, eq);
    ATTN_REQUIRE(std::find(names.begin(), names.end(), name) == names.end(), InputError,
                 "--gp-baseline NAME '{}' is given twice: every baseline needs its own name", name);
    names.push_back(name);
  }
}

Config TheoryOptions::to_config() const {
  Config c;
  c.set("command", "theory");
  c.set("data", data);
  c.set("output", output);
  c.set("widths", ConfigValue(widths));
  c.set("temperatures", temperatures);
  c.set("variances", variances);
  c.set("width_ratios", width_ratios);
  c.set("form", form);
  c.set("gp_only", gp_only);
  c.set("grad_tol", minimiser.grad_tol);
  c.set("minimiser", to_string(minimiser.method));
  c.set("polish_tol", minimiser.polish_tol);
  c.set("polish", to_string(minimiser.polish));
  c.set("warm_start", warm_start);
  c.set("max_iterations", minimiser.max_iterations);
  c.set("alignment", alignment);
  c.set("kernel_subset", kernel_subset);
  c.set("block_size", block_mb);
  c.set("gp_baselines", baselines);
  c.set("resume", resume);
  c.set("overwrite", overwrite);
  return c;
}

// The starting point of grid point (t, w) (--warm-start): the GP point, or the solution at the same
// width and the previous temperature (temperature), or at the previous width and the same
// temperature (width), when that point was solved in this run.
namespace {
OrderParameters warm_start(const std::string& mode, const Architecture& arch, const std::vector<OrderParameters>& solved,
                           const std::vector<std::size_t>& solved_t, std::size_t t, std::size_t w) {
  if (mode == "temperature" && t > 0 && solved_t[w] == t - 1) return solved[w];
  if (mode == "width" && w > 0 && solved_t[w - 1] == t) return solved[w - 1];
  return gp_point(arch);
}
}  // namespace

TheoryRun::TheoryRun(TheoryOptions options, const Comm& comm, std::vector<std::string> command_line)
    : options_(std::move(options)), comm_(comm), command_line_(std::move(command_line)) {}

// ---------------------------------------------------------------------------------------------- stages

namespace {

// One evaluation set with its place in the output file.
struct EvaluationSet {
  std::string name;   // "test", "validation", "ood/<name>"
  std::string group;  // predictor_group(name)
  PathInputs inputs;
};

// A GP baseline; its kernel refers to its path inputs, so a Baseline never moves (held by pointer).
struct Baseline {
  BaselineLayout layout;
  PathInputs train;
  std::vector<EvaluationSet> sets;
  std::unique_ptr<RenormalizedKernel> kernel;
};

std::vector<double> padded(std::vector<double> v, std::size_t n) {
  v.resize(n, std::nan(""));
  return v;
}

// The fingerprint of everything that determines the results: a resumed run must match it.
std::string fingerprint(const Config& config, const std::string& data_checksum) {
  std::string s = data_checksum;
  for (const auto& [key, value] : config.entries())
    if (key != "resume" && key != "output" && key != "overwrite" && key != "block_size")
      s += "|" + key + "=" + Config::to_string(value);
  return s;
}

// The path inputs of every evaluation set of `data` (test, validation, OOD).
std::vector<EvaluationSet> evaluation_inputs(const Dataset& data) {
  std::vector<EvaluationSet> sets;
  for (const ExampleSet* set : data.evaluation_sets())
    sets.push_back({set->name, predictor_group(set->name),
                    compute_path_inputs(*set, data.attention, data.tokens, data.token_dim)});
  return sets;
}

// The largest off-diagonal entry of U_1, named by the dataset's path labels (progress and summary lines).
std::string strongest_cross_path(const Eigen::MatrixXd& U1, const std::vector<std::string>& labels) {
  Eigen::Index bi = -1, bj = -1;
  for (Eigen::Index i = 0; i < U1.rows(); ++i)
    for (Eigen::Index j = i + 1; j < U1.cols(); ++j)
      if (bi < 0 || std::abs(U1(i, j)) > std::abs(U1(bi, bj))) bi = i, bj = j;
  if (bi < 0) return "";
  return fmt::format(", U1[{},{}] = {:+.4f}", labels[static_cast<size_t>(bi)], labels[static_cast<size_t>(bj)],
                     U1(bi, bj));
}

// A class-sorted subset of training examples for the kernel figures: the first ceil(m/2) with y > 0, then y <= 0.
std::vector<std::int64_t> kernel_subset(const std::vector<double>& y, int m) {
  std::vector<std::int64_t> subset;
  for (int cls = 0; cls < 2; ++cls) {
    const int want = cls == 0 ? (m + 1) / 2 : m / 2;
    int got = 0;
    for (std::size_t i = 0; i < y.size() && got < want; ++i)
      if ((y[i] > 0) == (cls == 0)) {
        subset.push_back(static_cast<std::int64_t>(i));
        ++got;
      }
  }
  return subset;
}

}  // namespace

// Everything one run builds, stage by stage (docs/theory.md: load → attention → path inputs → kernel →
// output → for each grid point: minimise → predict → alignment → write).
struct TheoryRun::State {
  const Log log;
  StageTimers timers;
  Provenance provenance;
  Config config;
  double start = wall_seconds();
  // load
  Dataset data;
  std::vector<double> variances, ratios;
  std::vector<std::string> labels;
  // path inputs and kernels
  StreamedInputs in;  // train: y always, x̃ rows in the primal and path-pair forms; the dual form's Gram sums
  std::vector<EvaluationSet> evaluation;
  std::vector<std::unique_ptr<Baseline>> baselines;
  KernelForm form = KernelForm::automatic;
  std::unique_ptr<RenormalizedKernel> kernel;
  // output
  std::vector<std::int64_t> widths;
  std::unique_ptr<h5::OutputFile> output;
  std::unique_ptr<TheoryFileWriter> writer;
  std::vector<std::int64_t> subset;
  int not_converged = 0;
  // the last solution at each width and its temperature index (--warm-start)
  std::vector<OrderParameters> solved;
  std::vector<std::size_t> solved_t;
  // points written but for their alignment (TheoryRun::queue_alignment)
  struct PendingAlignment {
    std::size_t t, w;
    Eigen::MatrixXd U1;
  };
  std::vector<PendingAlignment> pending;

  State(const Comm& comm, const std::vector<std::string>& command_line, const TheoryOptions& options)
      : log(comm), provenance(Provenance::collect(comm, command_line)), config(options.to_config()) {}

  // The network at grid width N: w_l = ratio_l · N (real numbers), the resolved prior.
  Architecture architecture(double N) const {
    Architecture arch{data.token_dim, data.attention.heads(), {}, variances};
    for (double r : ratios) arch.widths.push_back(r * N);
    return arch;
  }
};

TheoryRun::~TheoryRun() = default;

int TheoryRun::run() {
  options_.validate();
  h5::OutputPolicy policy{options_.overwrite, options_.resume, {options_.data}};
  for (const auto& b : options_.baselines) policy.inputs.push_back(b.substr(b.find('=') + 1));
  const h5::OutputClaim claim = h5::OutputFile::claim(options_.output, comm_, policy);
  s_ = std::make_unique<State>(comm_, command_line_, options_);
  s_->config.echo(s_->log, "attnpaths theory — resolved options:");
  load();
  compute_inputs();
  set_up_baselines();
  set_up_kernel();
  open_output();
  solve_grid();
  finish();
  return s_->not_converged;
}

// 1–2. The dataset, streamed in blocks (validated on read): attention, path inputs Ξ and, in the dual
// form, the Gram sums (theory/stream_inputs.hpp); the prior resolved against its depth L.
void TheoryRun::load() {
  State& s = *s_;
  s.in = stream_inputs(options_.data, parse_kernel_form(options_.form), options_.block_mb, options_.kernel_subset,
                       comm_, s.timers);
  s.data = s.in.data;  // header: attention, sizes, checksum; no examples
  const AttentionSpec& attention = s.data.attention;
  const int L = attention.depth();
  s.variances = options_.variances;
  s.ratios = options_.width_ratios;
  if (s.variances.empty()) s.variances.assign(static_cast<size_t>(L + 2), 1.0);
  if (s.ratios.empty()) s.ratios.assign(static_cast<size_t>(L + 1), 1.0);
  ATTN_REQUIRE(static_cast<int>(s.variances.size()) == L + 2, InputError,
               "--variances needs {} values (σ0², …, σ{}², σa²) for the L = {} network of '{}', got {}", L + 2, L, L,
               options_.data, s.variances.size());
  ATTN_REQUIRE(static_cast<int>(s.ratios.size()) == L + 1, InputError,
               "--width-ratios needs {} values (w_0 … w_{} relative to N) for '{}', got {}", L + 1, L, options_.data,
               s.ratios.size());
  s.labels = attention.labels();
  s.config.set("data_checksum", s.data.checksum);
  s.config.set("variances_resolved", s.variances);
  s.config.set("width_ratios_resolved", s.ratios);
  s.log.info("dataset '{}' ({}): P = {}, Q = {}, T = {}, N0 = {}, L = {}, heads = [{}], {} paths [{}]", options_.data,
             s.data.task, s.data.train.count, s.data.test.count, s.data.tokens, s.data.token_dim, L,
             fmt::join(attention.heads(), ", "), attention.paths(), fmt::join(s.labels, ", "));
}

// 2. The evaluation sets' path inputs Ξ (docs/model.md §1.3), computed while streaming.
void TheoryRun::compute_inputs() {
  State& s = *s_;
  const auto sets = s.data.evaluation_sets();
  for (std::size_t i = 0; i < s.in.evaluation.size(); ++i)
    s.evaluation.push_back({sets[i]->name, predictor_group(sets[i]->name), std::move(s.in.evaluation[i])});
}

// 3. GP baselines on other attention (e.g. the good path alone), same temperatures, on every
// evaluation set of their own dataset.
void TheoryRun::set_up_baselines() {
  State& s = *s_;
  for (const auto& spec : options_.baselines) {
    auto t = s.timers.stage("baselines");
    Baseline& b = *s.baselines.emplace_back(std::make_unique<Baseline>());
    b.layout.name = spec.substr(0, spec.find('='));
    b.layout.file = spec.substr(spec.find('=') + 1);
    const Dataset bd = read_dataset(b.layout.file, comm_);
    ATTN_REQUIRE(bd.attention.depth() == s.data.attention.depth(), InputError,
                 "GP baseline '{}' ({}) has L = {} layers, the main dataset {}: the prior variances would not apply",
                 b.layout.name, b.layout.file, bd.attention.depth(), s.data.attention.depth());
    b.layout.checksum = bd.checksum;
    b.layout.path_labels = bd.attention.labels();
    b.train = compute_path_inputs(bd.train, bd.attention, bd.tokens, bd.token_dim);
    b.layout.paths = b.train.paths;
    b.sets = evaluation_inputs(bd);
    for (const auto& e : b.sets) b.layout.sets.emplace_back(e.name, e.inputs.count);
    b.kernel = make_renormalized_kernel(KernelForm::automatic, b.train, s.variances[0], comm_);
  }
}

// 4. The renormalised kernel of the training set (docs/model.md §3.4), from the streamed inputs.
void TheoryRun::set_up_kernel() {
  State& s = *s_;
  const std::int64_t r = static_cast<std::int64_t>(s.in.train.paths) * s.in.train.dim;
  s.form = s.in.form;
  {
    auto t = s.timers.stage("kernel setup");
    s.kernel = make_streamed_kernel(s.in, s.variances[0], comm_);
    std::vector<const PathInputs*> sets;  // predicted at every grid point (the path-pair form prepares them)
    for (const EvaluationSet& e : s.evaluation) sets.push_back(&e.inputs);
    s.kernel->prepare_predictions(sets);
  }
  s.config.set("form_resolved", to_string(s.form));
  const MinimiserMethod descent = resolve_minimiser(options_.minimiser.method, *s.kernel);
  s.config.set("minimiser_resolved", to_string(descent));
  s.log.info("kernel form: {} (P = {}, r = N0·H_tot = {}), {} MPI rank(s), {} blocks of ≤ {} examples per rank ({} "
             "read while the one before was computed); minimiser {}", to_string(s.form), s.in.train.count, r,
             comm_.size(), s.in.blocks, s.in.block_examples, s.in.read_ahead, to_string(descent));
}

// The /data group: what the results were computed on.
void TheoryRun::write_data_description() const {
  const State& s = *s_;
  auto d = s.output->file().create_group("data");
  write_dataset_description(d, s.data, options_.data);
  d.set_attr("P", s.in.train.count);
  d.set_attr("Q", s.data.test.count);
  d.set_attr("readout", to_string(s.data.attention.readout));
  d.set_attr("nonlinearity", to_string(s.data.attention.nonlinearity));
  d.set_attr("kernel_form", to_string(s.form));
}

// The kernels of a class-sorted training subset, for figures (docs/files.md §2).
void TheoryRun::write_kernel_subset() {
  State& s = *s_;
  const int m = static_cast<int>(std::min<std::int64_t>(options_.kernel_subset, s.in.train.count));
  if (m <= 0) return;
  const auto y = comm_.allgather_blocks(s.in.train.y);
  s.subset = kernel_subset(y, m);
  std::vector<double> subset_y, path_kernels;
  for (auto i : s.subset) subset_y.push_back(y[static_cast<size_t>(i)]);
  const int H = s.in.train.paths;
  for (int p = 0; p < H; ++p) {
    Eigen::MatrixXd E = Eigen::MatrixXd::Zero(H, H);
    E(p, p) = 1.0;
    const auto block = s.kernel->kernel_block(E, s.subset);
    path_kernels.insert(path_kernels.end(), block.begin(), block.end());
  }
  s.writer->create_kernels(s.subset, subset_y, path_kernels, H, s.kernel->kernel_block(gp_U1(s.variances, H), s.subset),
                           !s.widths.empty(), options_.temperatures.size(), s.widths.size());
}

// 5. The output file: the layout created up front and filled point by point, or a resumed one.
void TheoryRun::open_output() {
  State& s = *s_;
  s.widths = options_.gp_only ? std::vector<std::int64_t>{} : options_.widths;
  const std::string print = fingerprint(s.config, s.data.checksum);
  s.output = std::make_unique<h5::OutputFile>(options_.output, comm_, options_.resume);
  const h5::File& file = s.output->file();
  s.writer = std::make_unique<TheoryFileWriter>(file, comm_);
  if (options_.resume && file.exists("progress/gp")) {
    ATTN_REQUIRE(file.group("config").attr_string("fingerprint") == print, InputError,
                 "cannot resume '{}': it was started with different options or data (remove it to start afresh)",
                 h5::OutputFile::partial_path(options_.output));
    s.log.info("resuming from {}", h5::OutputFile::partial_path(options_.output));
    if (file.exists("kernels/subset")) s.subset = file.dataset("kernels/subset").read_all<std::int64_t>();
    return;
  }
  auto t = s.timers.stage("write");
  write_format(file, "attnpaths-theory", 1);
  write_config(file, s.config);
  file.group("config").set_attr("fingerprint", print);
  write_data_description();
  TheoryFileLayout layout{s.widths, options_.temperatures, s.data.attention.depth(), s.in.train.paths, {}, {}, {},
                          options_.alignment, options_.minimiser.grad_tol};
  const Architecture shape = s.architecture(1.0);
  for (int l = 2; l <= layout.depth; ++l) layout.U_orders.push_back(shape.order(l));
  for (const auto& e : s.evaluation) layout.sets.emplace_back(e.name, e.inputs.count);
  for (const auto& b : s.baselines) layout.baselines.push_back(b->layout);
  s.writer->create(layout);
  write_kernel_subset();
  file.flush();
}

// 6. The grid: for each temperature the GP point, then each width (a resumed run skips what is done).
void TheoryRun::solve_grid() {
  State& s = *s_;
  const std::vector<std::int8_t> gp_done = s.writer->gp_progress(), point_done = s.writer->theory_progress();
  const std::size_t nT = options_.temperatures.size(), nW = s.widths.size();
  Progress progress(s.log, "theory grid", static_cast<long>(nT * std::max<std::size_t>(nW, 1)), 0.0);
  long points = 0;
  s.solved.assign(nW, OrderParameters{});
  s.solved_t.assign(nW, nT);  // nT: not solved in this run
  for (std::size_t t = 0; t < nT; ++t) {
    if (!gp_done[t]) solve_gp_point(t);
    for (std::size_t w = 0; w < nW; ++w) {
      ++points;
      if (point_done[t * nW + w]) continue;
      progress.update(points, solve_grid_point(t, w));
    }
  }
  flush_alignments();
}

// The GP point of temperature t (it does not depend on the widths): predict → alignment → write.
void TheoryRun::solve_gp_point(std::size_t t) {
  State& s = *s_;
  const double temp = options_.temperatures[t];
  const Eigen::MatrixXd U1_gp = gp_U1(s.variances, s.in.train.paths);
  {
    auto st = s.timers.stage("predict");
    s.kernel->factor(U1_gp, temp);
    for (const auto& e : s.evaluation)
      s.writer->statistics(e.group + "/gp", {t}, predictor_statistics(*s.kernel, e.inputs, comm_), e.inputs.local);
    for (auto& bp : s.baselines) {
      Baseline& b = *bp;
      b.kernel->factor(gp_U1(s.variances, b.train.paths), temp);
      for (const auto& e : b.sets)
        s.writer->statistics(predictor_group(e.name, "/baselines/" + b.layout.name), {t},
                             predictor_statistics(*b.kernel, e.inputs, comm_), e.inputs.local);
    }
  }
  if (options_.alignment > 0) return queue_alignment(t, gp_column, U1_gp);
  s.writer->mark_gp_done(t);
  s.output->file().flush();
}

// One grid point (Temp t, width w): minimise the action → predict (theory, diagonal only) → alignment
// → write. Returns its progress line.
std::string TheoryRun::solve_grid_point(std::size_t t, std::size_t w) {
  State& s = *s_;
  const double temp = options_.temperatures[t], N = static_cast<double>(s.widths[w]);
  const Architecture arch = s.architecture(N);
  arch.validate();
  const double t0 = wall_seconds();
  MinimiserResult result;
  {
    auto st = s.timers.stage("minimise");
    // An evaluation below ~1 ms at the DGEMM peak (the default task: P = 100, 2e7 flops) is too small
    // to share between BLAS threads: they cost more than they save there (docs/benchmarks.md).
    std::optional<SerialBlas> serial;
    if (s.kernel->evaluation_flops() < 1e8) serial.emplace();
    Action action(arch, *s.kernel, temp);
    result = minimise_action(action, warm_start(options_.warm_start, arch, s.solved, s.solved_t, t, w),
                             options_.minimiser, comm_);
  }
  s.solved[w] = result.op;
  s.solved_t[w] = t;
  const double seconds = wall_seconds() - t0;
  if (!result.converged) ++s.not_converged;
  const double acc_theory = predict(t, w, "/theory", result.op.U1());
  const double acc_diag = predict(t, w, "/theory_diagonal", diagonal_only(result.op.U1()));
  {
    auto st = s.timers.stage("write");
    if (!s.subset.empty()) s.writer->renormalized_kernel(t, w, s.kernel->kernel_block(result.op.U1(), s.subset));
    s.writer->point(t, w, {result.op.U, result.op.Ua, result.value.action, result.value.energy, result.value.entropy,
                           result.value.grad_max, seconds, result.iterations, result.newton_steps, result.evaluations,
                           result.converged});
    if (options_.alignment == 0) {
      s.writer->mark_point_done(t, w);
      s.output->file().flush();
    }
  }
  if (options_.alignment > 0) queue_alignment(t, w, result.op.U1());
  return fmt::format("Temp {:g}, N {}: S = {:.6f}, accuracy {:.3f} (diagonal {:.3f}){}, {}{}", temp, s.widths[w],
                     result.value.action, acc_theory, acc_diag, strongest_cross_path(result.op.U1(), s.labels),
                     result.reason, result.converged ? "" : "  ** NOT CONVERGED **");
}

void TheoryRun::queue_alignment(std::size_t t, std::size_t w, const Eigen::MatrixXd& U1) {
  State& s = *s_;
  s.pending.push_back({t, w, U1});
  const std::size_t batch = s.kernel->alignment_is_local() ? static_cast<std::size_t>(comm_.size()) : 1;
  if (s.pending.size() >= batch) flush_alignments();
}

// The queued alignments, each computed by one rank where the kernel's alignment is local (rank j mod
// R takes the j-th eigenproblem; the others add zeros to one sum), else by all ranks together; then
// written and their points marked done. The GP alignment does not depend on Temp: computed once.
void TheoryRun::flush_alignments() {
  State& s = *s_;
  if (s.pending.empty()) return;
  auto st = s.timers.stage("alignment");
  const std::size_t k = static_cast<std::size_t>(options_.alignment), n = s.pending.size();
  const bool shared = s.kernel->alignment_is_local() && comm_.size() > 1;
  std::vector<double> values(n * k, 0.0);
  // The GP's eigenproblem once: at the batch's first GP point, unless an earlier batch solved it.
  std::size_t gp_at = n;
  for (std::size_t j = 0; j < n && gp_alignment_.empty(); ++j)
    if (s.pending[j].w == gp_column) {
      gp_at = j;
      break;
    }
  for (std::size_t j = 0; j < n; ++j) {
    const auto& e = s.pending[j];
    const bool mine = !shared || static_cast<int>(j % static_cast<std::size_t>(comm_.size())) == comm_.rank();
    if (mine && (e.w != gp_column || j == gp_at)) {
      const std::vector<double> v = padded(s.kernel->alignment(e.U1, options_.alignment), k);
      std::copy(v.begin(), v.end(), values.begin() + static_cast<std::ptrdiff_t>(j * k));
    }
  }
  if (shared) comm_.sum(values);
  for (std::size_t j = 0; j < n; ++j) {
    const auto& e = s.pending[j];
    const auto at = values.begin() + static_cast<std::ptrdiff_t>(j * k);
    if (e.w != gp_column) {
      s.writer->theory_alignment(e.t, e.w, std::vector<double>(at, at + static_cast<std::ptrdiff_t>(k)));
      s.writer->mark_point_done(e.t, e.w);
      continue;
    }
    if (gp_alignment_.empty()) gp_alignment_.assign(at, at + static_cast<std::ptrdiff_t>(k));
    s.writer->gp_alignment(e.t, gp_alignment_);
    s.writer->mark_gp_done(e.t);
  }
  s.pending.clear();
  s.output->file().flush();
}

// The predictor with order parameter U1 on every evaluation set, written under <set>/<variant>.
// Returns the test accuracy.
double TheoryRun::predict(std::size_t t, std::size_t w, const std::string& variant, const Eigen::MatrixXd& U1) {
  State& s = *s_;
  auto st = s.timers.stage("predict");
  s.kernel->factor(U1, options_.temperatures[t]);
  double test_accuracy = 0;
  for (const auto& e : s.evaluation) {
    const PredictorStatistics stats = predictor_statistics(*s.kernel, e.inputs, comm_);
    if (e.name == "test") test_accuracy = stats.accuracy;
    s.writer->statistics(e.group + variant, {t, w}, stats, e.inputs.local);
  }
  return test_accuracy;
}

// 7. Temperature selection (when possible), provenance, descriptions; the file becomes final; summary.
void TheoryRun::finish() {
  State& s = *s_;
  const h5::File& file = s.output->file();
  if (options_.temperatures.size() >= 2 && s.data.validation && !s.data.regression) {
    auto t = s.timers.stage("selection");
    file.flush();
    const TemperatureSelection selection = select_temperatures({read_theory_results(file, options_.output)});
    write_selection(file, selection);
    log_selection(s.log, selection);
  }
  s.provenance.finish();
  write_provenance(file, s.provenance, s.timers);
  const TheoryResults results = read_theory_results(file, options_.output);  // a resumed run prints every point
  for (const auto& p : h5::annotate(file, theory_file_notes(s.data.attention.depth()), s.labels))
    s.log.warn("no description for dataset {} (docs/files.md)", p);
  s.output->commit();
  print_summary(results);
  s.log.info("");
  s.log.info("wrote {} ({:.2f} s)", options_.output, wall_seconds() - s.start);
}

// 8. The summary table, per temperature (from the file, so a resumed run prints every point). The
// U_1 column is the cross-path entry that is largest anywhere on the grid, named by the path labels.
void TheoryRun::print_summary(const TheoryResults& r) const {
  const State& s = *s_;
  const std::size_t nW = r.widths.size(), H = static_cast<std::size_t>(r.paths);
  std::size_t pi = 0, pj = 0;
  for (std::size_t k = 0; k < r.U1.size(); ++k) {
    const std::size_t i = (k / H) % H, j = k % H;
    if (i < j && (pi == pj || std::abs(r.U1[k]) > std::abs(r.U1[(k / (H * H)) * H * H + pi * H + pj]))) pi = i, pj = j;
  }
  const bool cross = pi != pj;
  const std::string column = cross ? fmt::format("U1[{},{}]", r.path_labels[pi], r.path_labels[pj]) : "";
  for (std::size_t t = 0; t < r.temperatures.size(); ++t) {
    s.log.info("");
    s.log.info("Temp = {:g}   (accuracy on the {} test examples; GP = infinite width)", r.temperatures[t],
               s.data.test.count);
    const double gp = r.gp_accuracy.at("test")[t];
    if (nW) {
      s.log.info("{:>7} {:>10} {:>10} {:>8}{} {:>11} {:>9}", "N", "theory", "diagonal", "GP",
                 cross ? fmt::format("{:>10}", column) : "", "iterations", "seconds");
      for (std::size_t w = 0; w < nW; ++w) {
        const std::size_t i = r.grid_index(t, w);
        s.log.info("{:>7} {:>10.3f} {:>10.3f} {:>8.3f}{} {:>7}+{:<3} {:>9.3f}{}", r.widths[w],
                   r.theory_accuracy.at("test")[i], r.diagonal_accuracy[i], gp,
                   cross ? fmt::format("{:>10.4f}", r.U1[(i * H + pi) * H + pj]) : "", r.iterations[i],
                   r.newton_steps[i], r.seconds[i], r.converged[i] ? "" : "  NOT CONVERGED");
      }
    }
    std::string line = fmt::format("GP baselines: all paths {:.3f}", gp);
    for (const auto& [name, sets] : r.baseline_accuracy) line += fmt::format(", {} {:.3f}", name, sets.at("test")[t]);
    s.log.info("{}", line);
  }
}

}  // namespace attnpaths
