#include "attnpaths/theory/theory_run.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/io/file_notes.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/io/run_record.hpp"
#include "attnpaths/model/path_inputs.hpp"
#include "attnpaths/predict/predictor.hpp"

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
  c.set("polish_tol", minimiser.polish_tol);
  c.set("polish", to_string(minimiser.polish));
  c.set("warm_start", warm_start);
  c.set("max_iterations", minimiser.max_iterations);
  c.set("alignment", alignment);
  c.set("kernel_subset", kernel_subset);
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
                           const std::vector<hsize_t>& solved_t, hsize_t t, hsize_t w) {
  if (mode == "temperature" && t > 0 && solved_t[w] == t - 1) return solved[w];
  if (mode == "width" && w > 0 && solved_t[w - 1] == t) return solved[w - 1];
  return gp_point(arch);
}
}  // namespace

TheoryRun::TheoryRun(TheoryOptions options, const Comm& comm, std::vector<std::string> command_line)
    : options_(std::move(options)), comm_(comm), command_line_(std::move(command_line)) {}

// ---------------------------------------------------------------------------------------------- helpers

namespace {

// One evaluation set with its place in the output file.
struct EvaluationSet {
  std::string group;  // "/predictor" (test), "/predictor/validation", "/predictor/ood/<name>"
  PathInputs inputs;
};

// A GP baseline; its kernel refers to its path inputs, so a Baseline never moves (held by pointer).
struct Baseline {
  std::string name, path, checksum;
  std::vector<std::string> labels;
  PathInputs train, test;
  std::unique_ptr<RenormalizedKernel> kernel;
};

std::string evaluation_group(const std::string& set_name) {
  if (set_name == "test") return "/predictor";
  if (set_name == "validation") return "/predictor/validation";
  return "/predictor/" + set_name;  // "ood/<name>"
}

// Writes into datasets shaped [lead..., tail...] at index `lead`.
class GridWriter {
 public:
  GridWriter(const h5::File& file, const Comm& comm) : file_(file), comm_(comm) {}

  // Replicated values (identical on every rank): rank 0 writes.
  template <class T>
  void replicated(const std::string& path, const h5::Dims& lead, const std::vector<T>& values) const {
    const h5::Dataset d = file_.dataset(path);
    const h5::Dims dims = d.dims();
    h5::Dims start(dims.size(), 0), count(dims.size(), 1);
    for (std::size_t i = 0; i < lead.size(); ++i) start[i] = lead[i];
    for (std::size_t i = lead.size(); i < dims.size(); ++i) count[i] = dims[i];
    if (!comm_.is_root()) std::fill(count.begin(), count.end(), 0);
    d.write_slab<T>(start, count, values.data());
  }
  void scalar(const std::string& path, const h5::Dims& lead, double v) const {
    replicated<double>(path, lead, std::vector<double>{v});
  }
  // Distributed rows of the last dimension: each rank writes its block [local.begin, local.end).
  void rows(const std::string& path, const h5::Dims& lead, const Range& local, const std::vector<double>& v) const {
    const h5::Dataset d = file_.dataset(path);
    h5::Dims start(lead), count(lead.size(), 1);
    start.push_back(static_cast<hsize_t>(local.begin));
    count.push_back(static_cast<hsize_t>(local.size()));
    if (local.size() == 0) std::fill(count.begin(), count.end(), 0);
    d.write_slab<double>(start, count, v.data());
  }

 private:
  const h5::File& file_;
  const Comm& comm_;
};

std::vector<double> flatten(const Eigen::MatrixXd& U) {
  std::vector<double> v(static_cast<size_t>(U.size()));
  for (Eigen::Index i = 0; i < U.rows(); ++i)
    for (Eigen::Index j = 0; j < U.cols(); ++j) v[static_cast<size_t>(i * U.cols() + j)] = U(i, j);
  return v;
}

std::vector<double> padded(std::vector<double> v, std::size_t n) {
  v.resize(n, std::nan(""));
  return v;
}

// The fingerprint of everything that determines the results: a resumed run must match it.
std::string fingerprint(const Config& config, const std::string& data_checksum) {
  std::string s = data_checksum;
  for (const auto& [key, value] : config.entries())
    if (key != "resume" && key != "output" && key != "overwrite") s += "|" + key + "=" + Config::to_string(value);
  return s;
}

const char* statistic_names[] = {"accuracy", "bias", "variance"};

}  // namespace

// ---------------------------------------------------------------------------------------------- run

int TheoryRun::run() {
  options_.validate();
  h5::OutputPolicy policy{options_.overwrite, options_.resume, {options_.data}};
  for (const auto& b : options_.baselines) policy.inputs.push_back(b.substr(b.find('=') + 1));
  const h5::OutputClaim claim = h5::OutputFile::claim(options_.output, comm_, policy);
  const Log log(comm_);
  StageTimers timers;
  Provenance provenance = Provenance::collect(comm_, command_line_);
  Config config = options_.to_config();
  config.echo(log, "attnpaths theory — resolved options:");
  const double start = wall_seconds();

  // 1. Load the dataset (validated on read).
  Dataset data;
  {
    auto s = timers.stage("load");
    data = read_dataset(options_.data, comm_);
  }
  const AttentionSpec& attention = data.attention;
  const int L = attention.depth(), H = attention.paths(), N0 = data.token_dim;
  std::vector<double> variances = options_.variances, ratios = options_.width_ratios;
  if (variances.empty()) variances.assign(static_cast<size_t>(L + 2), 1.0);
  if (ratios.empty()) ratios.assign(static_cast<size_t>(L + 1), 1.0);
  ATTN_REQUIRE(static_cast<int>(variances.size()) == L + 2, InputError,
               "--variances needs {} values (σ0², …, σ{}², σa²) for the L = {} network of '{}', got {}", L + 2, L, L,
               options_.data, variances.size());
  ATTN_REQUIRE(static_cast<int>(ratios.size()) == L + 1, InputError,
               "--width-ratios needs {} values (w_0 … w_{} relative to N) for '{}', got {}", L + 1, L, options_.data,
               ratios.size());
  const std::vector<std::string> labels =
      attention.path_labels.empty() ? attention.default_path_labels() : attention.path_labels;
  config.set("data_checksum", data.checksum);
  config.set("variances_resolved", variances);
  config.set("width_ratios_resolved", ratios);
  log.info("dataset '{}' ({}): P = {}, Q = {}, T = {}, N0 = {}, L = {}, heads = [{}], {} paths [{}]", options_.data,
           data.task, data.train.count, data.test.count, data.tokens, N0, L, fmt::join(attention.heads(), ", "), H,
           fmt::join(labels, ", "));

  // 2. Path inputs Ξ, once for every set.
  PathInputs train;
  std::vector<EvaluationSet> evaluation;
  {
    auto s = timers.stage("path inputs");
    train = compute_path_inputs(data.train, attention, data.tokens, N0);
    for (const ExampleSet* set : data.evaluation_sets())
      evaluation.push_back({evaluation_group(set->name), compute_path_inputs(*set, attention, data.tokens, N0)});
  }

  // 3. GP baselines on other attention (e.g. the good path alone), same temperatures.
  std::vector<std::unique_ptr<Baseline>> baselines;
  for (const auto& spec : options_.baselines) {
    auto s = timers.stage("baselines");
    Baseline& b = *baselines.emplace_back(std::make_unique<Baseline>());
    b.name = spec.substr(0, spec.find('='));
    b.path = spec.substr(spec.find('=') + 1);
    const Dataset bd = read_dataset(b.path, comm_);
    ATTN_REQUIRE(bd.attention.depth() == L, InputError,
                 "GP baseline '{}' ({}) has L = {} layers, the main dataset {}: the prior variances would not apply",
                 b.name, b.path, bd.attention.depth(), L);
    b.checksum = bd.checksum;
    b.labels = bd.attention.path_labels.empty() ? bd.attention.default_path_labels() : bd.attention.path_labels;
    b.train = compute_path_inputs(bd.train, bd.attention, bd.tokens, bd.token_dim);
    b.test = compute_path_inputs(bd.test, bd.attention, bd.tokens, bd.token_dim);
    b.kernel = make_renormalized_kernel(KernelForm::automatic, b.train, variances[0], comm_);
  }

  // 4. The renormalised kernel of the training set.
  const KernelForm form =
      resolve_kernel_form(parse_kernel_form(options_.form), train.count, static_cast<std::int64_t>(H) * N0);
  std::unique_ptr<RenormalizedKernel> kernel;
  {
    auto s = timers.stage("kernel setup");
    kernel = make_renormalized_kernel(form, train, variances[0], comm_);
  }
  config.set("form_resolved", to_string(form));
  log.info("kernel form: {} (P = {}, r = N0·H_tot = {}), {} MPI rank(s)", to_string(form), train.count,
           static_cast<std::int64_t>(H) * N0, comm_.size());

  // 5. The output file: layout created up front, filled point by point.
  const std::vector<std::int64_t> widths = options_.gp_only ? std::vector<std::int64_t>{} : options_.widths;
  const hsize_t nT = options_.temperatures.size(), nW = widths.size(), Hs = static_cast<hsize_t>(H);
  const int k_align = options_.alignment;
  const int m_kernel = static_cast<int>(std::min<std::int64_t>(options_.kernel_subset, train.count));
  const std::string print = fingerprint(config, data.checksum);
  h5::OutputFile output(options_.output, comm_, options_.resume);
  const h5::File& file = output.file();
  const bool resuming = options_.resume && file.exists("progress/gp");
  if (resuming) {
    ATTN_REQUIRE(file.group("config").attr_string("fingerprint") == print, InputError,
                 "cannot resume '{}': it was started with different options or data (remove it to start afresh)",
                 h5::OutputFile::partial_path(options_.output));
    log.info("resuming from {}", h5::OutputFile::partial_path(options_.output));
  } else {
    auto s = timers.stage("write");
    write_format(file, "attnpaths-theory", 1);
    write_config(file, config);
    file.group("config").set_attr("fingerprint", print);
    auto d = file.create_group("data");
    d.set_attr("task", data.task);
    d.set_attr("file", options_.data);
    d.set_attr("checksum", data.checksum);
    d.set_attr("P", train.count);
    d.set_attr("Q", data.test.count);
    d.set_attr("T", std::int64_t{data.tokens});
    d.set_attr("N0", std::int64_t{N0});
    d.set_attr("L", std::int64_t{L});
    const auto heads = attention.heads();
    d.set_attr("heads", std::vector<std::int64_t>(heads.begin(), heads.end()));
    d.set_attr("H_tot", std::int64_t{H});
    d.set_attr("path_labels", labels);
    d.set_attr("readout", to_string(attention.readout));
    d.set_attr("nonlinearity", to_string(attention.nonlinearity));
    d.set_attr("kernel_form", to_string(form));
    file.create_dataset<std::int8_t>("progress/gp", {nT});
    if (nW) {
      file.write<std::int64_t>("theory/widths", {nW}, widths);
      file.create_dataset<std::int8_t>("progress/theory", {nT, nW});
    }
    file.write<double>("theory/temperatures", {nT}, options_.temperatures);
    if (nW) {
      file.create_dataset<double>("theory/U1", {nT, nW, Hs, Hs});
      const Architecture shape{attention.heads(), {}, variances};
      for (int l = 2; l <= L; ++l) {
        const hsize_t order = static_cast<hsize_t>(shape.order(l));
        file.create_dataset<double>(fmt::format("theory/U{}", l), {nT, nW, order, order});
      }
      for (const char* name : {"Ua", "action", "energy", "entropy", "grad_max", "seconds"})
        file.create_dataset<double>(fmt::format("theory/{}", name), {nT, nW});
      for (const char* name : {"iterations", "newton_steps", "evaluations"})
        file.create_dataset<std::int64_t>(fmt::format("theory/{}", name), {nT, nW});
      file.create_dataset<std::int8_t>("theory/converged", {nT, nW});
      file.group("theory").set_attr("grad_tol", options_.minimiser.grad_tol);
      file.group("theory").set_attr("stopping_rule", "max_l max|dS/dU_l| < grad_tol (S normalised by max_l w_l)");
    }
    for (const auto& e : evaluation) {
      const hsize_t Q = static_cast<hsize_t>(e.inputs.count);
      const std::vector<std::string> variants =
          nW ? std::vector<std::string>{"theory", "theory_diagonal"} : std::vector<std::string>{};
      for (const auto& v : variants) {
        file.create_dataset<double>(e.group + "/" + v + "/mean", {nT, nW, Q});
        file.create_dataset<double>(e.group + "/" + v + "/var", {nT, nW, Q});
        for (const char* stat : statistic_names) file.create_dataset<double>(e.group + "/" + v + "/" + stat, {nT, nW});
      }
      file.create_dataset<double>(e.group + "/gp/mean", {nT, Q});
      file.create_dataset<double>(e.group + "/gp/var", {nT, Q});
      for (const char* stat : statistic_names) file.create_dataset<double>(e.group + "/gp/" + stat, {nT});
    }
    for (const auto& bp : baselines) {
      const Baseline& b = *bp;
      auto g = file.create_group("baselines/" + b.name);
      g.set_attr("file", b.path);
      g.set_attr("checksum", b.checksum);
      g.set_attr("path_labels", b.labels);
      g.set_attr("H_tot", std::int64_t{b.train.paths});
      file.create_dataset<double>("baselines/" + b.name + "/mean", {nT, static_cast<hsize_t>(b.test.count)});
      file.create_dataset<double>("baselines/" + b.name + "/var", {nT, static_cast<hsize_t>(b.test.count)});
      for (const char* stat : statistic_names) file.create_dataset<double>("baselines/" + b.name + "/" + stat, {nT});
    }
    if (k_align > 0) {
      file.create_dataset<double>("alignment/gp", {nT, static_cast<hsize_t>(k_align)});
      if (nW) file.create_dataset<double>("alignment/theory", {nT, nW, static_cast<hsize_t>(k_align)});
      file.group("alignment").set_attr("definition", "|v_k . y| / sqrt(P), v_k eigenvectors of the train kernel "
                                                     "(no Temp) by decreasing eigenvalue");
    }
    if (m_kernel > 0) {
      // A class-sorted subset of training examples: the first ceil(m/2) with y > 0, then y <= 0.
      const auto y = comm_.allgather_blocks(train.y);
      std::vector<std::int64_t> subset;
      for (int cls = 0; cls < 2; ++cls) {
        const int want = cls == 0 ? (m_kernel + 1) / 2 : m_kernel / 2;
        int got = 0;
        for (std::size_t i = 0; i < y.size() && got < want; ++i)
          if ((y[i] > 0) == (cls == 0)) {
            subset.push_back(static_cast<std::int64_t>(i));
            ++got;
          }
      }
      const hsize_t m = subset.size();
      std::vector<double> subset_y;
      for (auto i : subset) subset_y.push_back(y[static_cast<size_t>(i)]);
      file.write<std::int64_t>("kernels/subset", {m}, subset);
      file.write<double>("kernels/labels", {m}, subset_y);
      std::vector<double> path_kernels;
      for (int p = 0; p < H; ++p) {
        Eigen::MatrixXd E = Eigen::MatrixXd::Zero(H, H);
        E(p, p) = 1.0;
        const auto block = kernel->kernel_block(E, subset);
        path_kernels.insert(path_kernels.end(), block.begin(), block.end());
      }
      file.write<double>("kernels/path", {Hs, m, m}, path_kernels);
      file.write<double>("kernels/gp", {m, m}, kernel->kernel_block(gp_U1(variances, H), subset));
      if (nW) file.create_dataset<double>("kernels/renormalized", {nT, nW, m, m});
      file.group("kernels").set_attr("definition", "sum_pp' U_pp' C_pp' on the subset (no Temp); path[p] = C_pp");
    }
    file.flush();
  }

  // Progress of a resumed run.
  std::vector<std::int8_t> gp_done = file.dataset("progress/gp").read_all<std::int8_t>();
  std::vector<std::int8_t> theory_done =
      nW ? file.dataset("progress/theory").read_all<std::int8_t>() : std::vector<std::int8_t>{};
  std::vector<std::int64_t> subset =
      m_kernel > 0 ? file.dataset("kernels/subset").read_all<std::int64_t>() : std::vector<std::int64_t>{};

  // 6. The grid: for each temperature the GP point, then each width.
  const GridWriter put(file, comm_);
  const auto label_index = [&](const std::string& name) -> int {
    const auto it = std::find(labels.begin(), labels.end(), name);
    return it == labels.end() ? -1 : static_cast<int>(it - labels.begin());
  };
  const int ig = label_index("g"), id = label_index("d");
  auto write_statistics = [&](const std::string& base, const h5::Dims& lead, const PredictorStatistics& st,
                              const Range& local) {
    put.rows(base + "/mean", lead, local, st.mean);
    put.rows(base + "/var", lead, local, st.var);
    put.scalar(base + "/accuracy", lead, st.accuracy);
    put.scalar(base + "/bias", lead, st.bias);
    put.scalar(base + "/variance", lead, st.variance);
  };
  const Eigen::MatrixXd U1_gp = gp_U1(variances, H);  // the GP point does not depend on the widths
  std::vector<double> gp_alignment;
  int not_converged = 0;
  Progress progress(log, "theory grid", static_cast<long>(nT * std::max<hsize_t>(nW, 1)), 0.0);
  long points = 0;
  std::vector<OrderParameters> solved(nW);   // the last solution at each width (warm starts)
  std::vector<hsize_t> solved_t(nW, nT);     // ... and its temperature index

  for (hsize_t t = 0; t < nT; ++t) {
    const double temp = options_.temperatures[t];
    if (!gp_done[t]) {
      {
        auto s = timers.stage("predict");
        kernel->factor(U1_gp, temp);
        for (const auto& e : evaluation)
          write_statistics(e.group + "/gp", {t}, predictor_statistics(*kernel, e.inputs, comm_), e.inputs.local);
        for (auto& bp : baselines) {
          Baseline& b = *bp;
          b.kernel->factor(gp_U1(variances, b.train.paths), temp);
          write_statistics("/baselines/" + b.name, {t}, predictor_statistics(*b.kernel, b.test, comm_), b.test.local);
        }
      }
      if (k_align > 0) {
        auto s = timers.stage("alignment");
        if (gp_alignment.empty()) gp_alignment = kernel->alignment(U1_gp, k_align);
        put.replicated<double>("/alignment/gp", {t}, padded(gp_alignment, static_cast<size_t>(k_align)));
      }
      put.replicated<std::int8_t>("/progress/gp", {t}, {1});
      file.flush();
    }

    for (hsize_t w = 0; w < nW; ++w) {
      ++points;
      if (theory_done[t * nW + w]) continue;
      const double N = static_cast<double>(widths[w]);
      Architecture arch{attention.heads(), {}, variances};
      for (double r : ratios) arch.widths.push_back(r * N);
      arch.validate();
      const double t0 = wall_seconds();
      MinimiserResult result;
      {
        auto s = timers.stage("minimise");
        Action action(arch, *kernel, temp);
        result = minimise_action(action, warm_start(options_.warm_start, arch, solved, solved_t, t, w), options_.minimiser, comm_);
      }
      const double seconds = wall_seconds() - t0;
      solved[w] = result.op;
      solved_t[w] = t;
      if (!result.converged) ++not_converged;
      const h5::Dims at{t, w};
      double acc_theory = 0, acc_diag = 0;
      {
        auto s = timers.stage("predict");
        kernel->factor(result.op.U1(), temp);
        for (const auto& e : evaluation) {
          const PredictorStatistics st = predictor_statistics(*kernel, e.inputs, comm_);
          if (e.group == "/predictor") acc_theory = st.accuracy;
          write_statistics(e.group + "/theory", at, st, e.inputs.local);
        }
        kernel->factor(diagonal_only(result.op.U1()), temp);
        for (const auto& e : evaluation) {
          const PredictorStatistics st = predictor_statistics(*kernel, e.inputs, comm_);
          if (e.group == "/predictor") acc_diag = st.accuracy;
          write_statistics(e.group + "/theory_diagonal", at, st, e.inputs.local);
        }
      }
      if (k_align > 0) {
        auto s = timers.stage("alignment");
        put.replicated<double>("/alignment/theory", at,
                               padded(kernel->alignment(result.op.U1(), k_align), static_cast<size_t>(k_align)));
      }
      {
        auto s = timers.stage("write");
        if (m_kernel > 0) put.replicated<double>("/kernels/renormalized", at, kernel->kernel_block(result.op.U1(), subset));
        put.replicated<double>("/theory/U1", at, flatten(result.op.U1()));
        for (int l = 2; l <= L; ++l)
          put.replicated<double>(fmt::format("/theory/U{}", l), at, flatten(result.op.U[static_cast<size_t>(l - 1)]));
        put.scalar("/theory/Ua", at, result.op.Ua);
        put.scalar("/theory/action", at, result.value.action);
        put.scalar("/theory/energy", at, result.value.energy);
        put.scalar("/theory/entropy", at, result.value.entropy);
        put.scalar("/theory/grad_max", at, result.value.grad_max);
        put.scalar("/theory/seconds", at, seconds);
        put.replicated<std::int64_t>("/theory/iterations", at, {result.iterations});
        put.replicated<std::int64_t>("/theory/newton_steps", at, {result.newton_steps});
        put.replicated<std::int64_t>("/theory/evaluations", at, {result.evaluations});
        put.replicated<std::int8_t>("/theory/converged", at, {static_cast<std::int8_t>(result.converged ? 1 : 0)});
        put.replicated<std::int8_t>("/progress/theory", at, {1});
        file.flush();
      }
      progress.update(points, fmt::format("Temp {:g}, N {}: S = {:.6f}, accuracy {:.3f} (diagonal {:.3f}){}, {}{}",
                                          temp, widths[w], result.value.action, acc_theory, acc_diag,
                                          ig >= 0 && id >= 0 ? fmt::format(", U1[g,d] = {:+.4f}", result.op.U1()(ig, id))
                                                             : std::string(),
                                          result.reason, result.converged ? "" : "  ** NOT CONVERGED **"));
    }
  }

  // 7. Provenance, then the file becomes final.
  provenance.finish();
  write_provenance(file, provenance, timers);
  // 8. The summary table (read back from the file, so a resumed run prints every point).
  std::vector<double> gp_acc = file.dataset("/predictor/gp/accuracy").read_all<double>();
  std::vector<double> acc, acc_diag, u1, sec;
  std::vector<std::int64_t> its, newton;
  std::vector<std::int8_t> conv;
  if (nW) {
    acc = file.dataset("/predictor/theory/accuracy").read_all<double>();
    acc_diag = file.dataset("/predictor/theory_diagonal/accuracy").read_all<double>();
    u1 = file.dataset("/theory/U1").read_all<double>();
    sec = file.dataset("/theory/seconds").read_all<double>();
    its = file.dataset("/theory/iterations").read_all<std::int64_t>();
    newton = file.dataset("/theory/newton_steps").read_all<std::int64_t>();
    conv = file.dataset("/theory/converged").read_all<std::int8_t>();
  }
  std::vector<std::vector<double>> baseline_acc;
  for (const auto& b : baselines)
    baseline_acc.push_back(file.dataset("/baselines/" + b->name + "/accuracy").read_all<double>());
  for (const auto& p : h5::annotate(file, theory_file_notes(L), labels))
    log.warn("no description for dataset {} (docs/files.md)", p);
  output.commit();

  for (hsize_t t = 0; t < nT; ++t) {
    log.info("");
    log.info("Temp = {:g}   (accuracy on the {} test examples; GP = infinite width)", options_.temperatures[t],
             data.test.count);
    if (nW) {
      const std::string gd = ig >= 0 && id >= 0 ? fmt::format("{:>10}", "U1[g,d]") : "";
      log.info("{:>7} {:>10} {:>10} {:>8}{} {:>11} {:>9}", "N", "theory", "diagonal", "GP", gd, "iterations", "seconds");
      for (hsize_t w = 0; w < nW; ++w) {
        const hsize_t i = t * nW + w;
        const double g_d = ig >= 0 && id >= 0 ? u1[(i * Hs + static_cast<hsize_t>(ig)) * Hs + static_cast<hsize_t>(id)] : 0;
        log.info("{:>7} {:>10.3f} {:>10.3f} {:>8.3f}{} {:>7}+{:<3} {:>9.3f}{}", widths[w], acc[i], acc_diag[i], gp_acc[t],
                 ig >= 0 && id >= 0 ? fmt::format("{:>10.4f}", g_d) : "", its[i], newton[i], sec[i],
                 conv[i] ? "" : "  NOT CONVERGED");
      }
    }
    std::string line = fmt::format("GP baselines: all paths {:.3f}", gp_acc[t]);
    for (std::size_t b = 0; b < baselines.size(); ++b)
      line += fmt::format(", {} {:.3f}", baselines[b]->name, baseline_acc[b][t]);
    log.info("{}", line);
  }
  log.info("");
  log.info("wrote {} ({:.2f} s)", options_.output, wall_seconds() - start);
  return not_converged;
}

}  // namespace attnpaths
