#include "attnpaths/sampler/sample_run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/runtime.hpp"
#include "attnpaths/core/signals.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/io/file_notes.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/io/run_record.hpp"
#include "attnpaths/model/path_inputs.hpp"
#include "attnpaths/sampler/chain.hpp"
#include "attnpaths/sampler/checkpoint.hpp"
#include "attnpaths/sampler/diagnostics.hpp"
#include "attnpaths/sampler/posterior.hpp"

namespace attnpaths {

namespace {

std::size_t sz(std::int64_t n) { return static_cast<std::size_t>(n); }
hsize_t hs(std::int64_t n) { return static_cast<hsize_t>(n); }

bool power_of_two(int n) { return n > 0 && (n & (n - 1)) == 0; }

template <class T>
std::string join(const std::vector<T>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + fmt::format("{}", v[i]);
  return s;
}

// Draws of one chain buffered between two checkpoints.
struct DrawBuffer {
  std::vector<double> U, f, step_size, energy, accept_stat, log_density;
  std::vector<std::int64_t> tree_depth, n_leapfrog;
  std::vector<std::int8_t> divergent;
  std::int64_t count = 0, f_rows = 0;
  void clear() {
    *this = DrawBuffer{};
  }
};

// "" if /samples holds the `drawn` draws (and ceil(drawn/thin) test-predictor rows) of every chain that a
// checkpoint counts, else what is missing: a shortened file cannot be resumed.
std::string missing_draws(const h5::File& file, std::int64_t drawn, std::int64_t thin) {
  const std::int64_t f_rows = (drawn + thin - 1) / thin;
  std::vector<std::pair<std::string, std::int64_t>> need = {{"samples/U1", drawn}, {"samples/f_test", f_rows}};
  for (const char* s : {"step_size", "energy", "accept_stat", "log_density", "tree_depth", "n_leapfrog", "divergent"})
    need.emplace_back(fmt::format("samples/stats/{}", s), drawn);
  for (const auto& [path, rows] : need) {
    if (!file.exists(path)) return fmt::format("/{} is missing", path);
    const h5::Dims d = file.dataset(path).dims();
    if (d.size() < 2 || static_cast<std::int64_t>(d[1]) < rows)
      return fmt::format("/{} holds {} draws per chain, the checkpoint counts {}", path, d.size() < 2 ? 0 : d[1], rows);
  }
  return "";
}

}  // namespace

// ------------------------------------------------------------------------------------------ options

void SampleOptions::validate() const {
  ATTN_REQUIRE(!data.empty(), UsageError, "sample: --data is required");
  ATTN_REQUIRE(!output.empty(), UsageError, "sample: -o/--output is required");
  ATTN_REQUIRE(width > 0 || !widths.empty(), InputError, "sample: give --width N (or --widths w0,…,wL)");
  for (int w : widths) ATTN_REQUIRE(w > 0, InputError, "sample: --widths must be positive (got {})", w);
  for (double v : variances)
    ATTN_REQUIRE(v > 0 && std::isfinite(v), InputError, "sample: --variances must be positive (got {})", v);
  ATTN_REQUIRE(temperature > 0 && std::isfinite(temperature), InputError,
               "sample: --temperature T > 0 is required (got {})", temperature);
  ATTN_REQUIRE(chains >= 0, InputError, "sample: --chains must be at least 1 (got {})", chains);
  ATTN_REQUIRE(shards >= 1, InputError, "sample: --shards must be at least 1 (got {})", shards);
  ATTN_REQUIRE(draws >= 4, InputError, "sample: --draws must be at least 4 (got {})", draws);
  ATTN_REQUIRE(warmup >= 0, InputError, "sample: --warmup must be non-negative (got {})", warmup);
  ATTN_REQUIRE(target_accept > 0 && target_accept < 1, InputError, "sample: --target-accept must lie in (0, 1) (got {})",
               target_accept);
  ATTN_REQUIRE(max_depth >= 1 && max_depth <= 30, InputError, "sample: --max-depth must lie in [1, 30] (got {})",
               max_depth);
  ATTN_REQUIRE(checkpoint_every >= 1, InputError, "sample: --checkpoint-every must be at least 1 (got {})",
               checkpoint_every);
  ATTN_REQUIRE(thin >= 1, InputError, "sample: --thin must be at least 1 (got {})", thin);
  ATTN_REQUIRE(target == "auto" || target == "joint" || target == "v0-marginal" || target == "path-weights", InputError,
               "sample: --target must be \"auto\", \"joint\", \"v0-marginal\" or \"path-weights\" (got \"{}\")",
               target);
  ATTN_REQUIRE(metric == "auto" || metric == "diag" || metric == "dense", InputError,
               "sample: --metric must be \"auto\", \"diag\" or \"dense\" (got \"{}\")", metric);
  ATTN_REQUIRE(power_of_two(reduction_blocks) && reduction_blocks >= shards, InputError,
               "sample: --reduction-blocks must be a power of two ≥ --shards (got {}, shards {})", reduction_blocks,
               shards);
}

Config SampleOptions::to_config() const {
  Config c;
  c.set("data", data);
  c.set("output", output);
  c.set("width", width);
  c.set("temperature", temperature);
  c.set("chains", chains);
  c.set("shards", shards);
  c.set("draws", static_cast<long>(draws));
  c.set("warmup", static_cast<long>(warmup));
  c.set("seed", static_cast<long>(seed));
  c.set("target_accept", target_accept);
  c.set("max_depth", max_depth);
  c.set("max_energy_error", 1000.0);
  c.set("checkpoint_every", static_cast<long>(checkpoint_every));
  c.set("thin", static_cast<long>(thin));
  c.set("target", target);
  c.set("metric", metric);
  c.set("reduction_blocks", reduction_blocks);
  c.set("resume", resume);
  c.set("overwrite", overwrite);
  c.set("rng", "Philox4x64-10, key (seed, domain sampler = 4), counter (chain, block): chain c is stream c");
  c.set("adaptation", "Stan: dual averaging (gamma 0.05, kappa 0.75, t0 10); diagonal or dense metric (see metric), windows 75/25/50");
  return c;
}

std::string SampleOptions::fingerprint(const std::string& data_checksum, int depth) const {
  std::vector<int> w = widths.empty() ? std::vector<int>(sz(depth + 1), width) : widths;
  std::vector<double> v = variances.empty() ? std::vector<double>(sz(depth + 2), 1.0) : variances;
  std::vector<std::string> vs;
  for (double x : v) vs.push_back(fmt::format("{:.17g}", x));
  return fmt::format(
      "data_checksum={};widths={};variances={};temperature={:.17g};chains={};draws={};warmup={};seed={};"
      "target_accept={:.17g};max_depth={};thin={};target={};metric={};reduction_blocks={}",
      data_checksum, join(w), join(vs), temperature, chains, draws, warmup, seed, target_accept, max_depth, thin, target,
      metric, reduction_blocks);
}

// ------------------------------------------------------------------------------------------ run

SampleRun::SampleRun(SampleOptions options, const Comm& world, std::vector<std::string> command_line)
    : options_(std::move(options)), world_(world), command_line_(std::move(command_line)) {}

int SampleRun::run() {
  SampleOptions& o = options_;  // `target` is resolved below once the data are known
  o.validate();
  const h5::OutputClaim claim = h5::OutputFile::claim(o.output, world_, {o.overwrite, o.resume, {o.data}});
  StageTimers timers;
  Log log(world_, o.quiet);
  Provenance prov = Provenance::collect(world_, command_line_);
  StopSignals signals;

  // 1. World → C chain groups × K example shards (by default C = ranks / K).
  if (o.chains == 0) {
    ATTN_REQUIRE(world_.size() % o.shards == 0, InputError,
                 "sample: {} MPI ranks cannot be split into chains of --shards {} ranks each", world_.size(), o.shards);
    o.chains = world_.size() / o.shards;
  }
  const int C = o.chains, K = o.shards;
  ATTN_REQUIRE(world_.size() == C * K, InputError,
               "sample: {} MPI ranks, but --chains {} × --shards {} = {} are needed (run mpirun -n {})", world_.size(), C,
               K, C * K, C * K);
  const int chain = world_.rank() / K;
  Comm group = world_.split(chain, world_.rank() % K);
  const bool group_root = group.is_root();

  // 2. Dataset (rows sharded over the group) and its checksum.
  Dataset ds;
  {
    auto t = timers.stage("load dataset");
    ds = read_dataset(o.data, group);
  }
  const std::string checksum = content_checksum(o.data, world_);
  const int L = ds.attention.depth();
  NetworkShape shape;
  shape.input_dim = ds.token_dim;
  shape.heads = ds.attention.heads();
  shape.widths = o.widths.empty() ? std::vector<int>(sz(L + 1), o.width) : o.widths;
  shape.variances = o.variances.empty() ? std::vector<double>(sz(L + 2), 1.0) : o.variances;
  ATTN_REQUIRE(static_cast<int>(shape.widths.size()) == L + 1, InputError,
               "sample: --widths has {} entries, the dataset's network needs L + 1 = {} (w0 … wL)", shape.widths.size(),
               L + 1);
  ATTN_REQUIRE(static_cast<int>(shape.variances.size()) == L + 2, InputError,
               "sample: --variances has {} entries, the dataset's network needs L + 2 = {} (σ0², σ1² … σL², σa²)",
               shape.variances.size(), L + 2);
  shape.validate();
  const int H = shape.paths(), N0 = shape.input_dim;
  const std::int64_t P = ds.train.count, Q = ds.test.count;
  ATTN_REQUIRE(P >= 1 && Q >= 1, InputError, "sample: '{}' needs training and test examples (P = {}, Q = {})", o.data, P,
               Q);

  // The posterior NUTS runs on (all give the same law of U^s and f). auto: the V0-marginal targets cost
  // O(P³) per gradient but are not stiff at small Temp; path-weights needs Π_{k>l} H_k ≤ w_l.
  if (o.target == "auto") {
    bool factorisable = true;
    for (int l = 1; l <= L; ++l) {
      int suffix = 1;
      for (int k = l + 1; k <= L; ++k) suffix *= shape.heads[sz(k - 1)];
      factorisable = factorisable && suffix <= shape.widths[sz(l)];
    }
    o.target = P <= SampleOptions::marginal_max_examples ? (factorisable ? "path-weights" : "v0-marginal") : "joint";
  }

  // 3. Path inputs x̃ (docs/model.md §1.3), computed once.
  PathInputs train, test;
  {
    auto t = timers.stage("path inputs");
    train = compute_path_inputs(ds.train, ds.attention, ds.tokens, ds.token_dim);
    test = compute_path_inputs(ds.test, ds.attention, ds.tokens, ds.token_dim);
  }

  // 4. The posterior of this group (docs/model.md §2, §4).
  std::unique_ptr<ExampleBlocks> blocks;
  std::unique_ptr<JointPosterior> joint;
  std::unique_ptr<MarginalPosterior> marginal;
  LogDensity* target = nullptr;
  if (o.target == "joint") {
    blocks = std::make_unique<ExampleBlocks>(P, o.reduction_blocks, group);
    joint = std::make_unique<JointPosterior>(shape, o.temperature, redistribute_rows(train, blocks->local(), group),
                                             *blocks);
    target = joint.get();
  } else {
    marginal = std::make_unique<MarginalPosterior>(shape, o.temperature, redistribute_rows(train, {0, P}, group),
                                                   o.target == "path-weights"
                                                       ? MarginalPosterior::Coordinates::path_weights
                                                       : MarginalPosterior::Coordinates::weights);
    target = marginal.get();
  }
  const std::int64_t n = target->dimension();
  // auto = diag: on every Markov posterior measured the dense metric did not shorten the trees (docs/sampling.md).
  if (o.metric == "auto") o.metric = "diag";
  ChainOptions copt;
  copt.dense_metric = o.metric == "dense";
  copt.warmup = o.warmup;
  copt.draws = o.draws;
  copt.target_accept = o.target_accept;
  copt.nuts.max_depth = o.max_depth;
  Chain ch(*target, copt, o.seed, chain);

  Config config = o.to_config();
  config.set("data_path", std::filesystem::absolute(o.data).string());
  config.set("data_checksum", checksum);
  config.set("widths", shape.widths);
  config.set("variances", ConfigValue(shape.variances));
  config.set("parameters", static_cast<long>(shape.size()));
  config.set("sampled_dimension", static_cast<long>(n));
  config.set("mpi_ranks", world_.size());
  config.echo(log, "attnpaths sample");
  log.info("network: N0 = {}, L = {}, heads [{}], H_tot = {}, widths [{}], {} weights; target {} ({} sampled), {} metric",
           N0, L, join(shape.heads), H, join(shape.widths), shape.size(), o.target, n, o.metric);

  // 5. Output file (<out>.partial) and the chain's starting state.
  const std::string fingerprint = o.fingerprint(checksum, L);
  const bool partial_exists = claim.partial_existed();
  const bool resuming = o.resume && partial_exists;
  if (o.resume && !partial_exists)
    log.warn("--resume: '{}' does not exist, starting a new run", h5::OutputFile::partial_path(o.output));
  auto out = std::make_unique<h5::OutputFile>(o.output, world_, resuming);
  h5::File& file = out->file();
  const hsize_t hC = hs(C), hH = hs(H), hQ = hs(Q);
  const std::int64_t f_rows_total = (o.draws + o.thin - 1) / o.thin;
  if (!resuming) {
    write_format(file, "attnpaths-samples", 1);
    write_config(file, config);
    auto d = file.require_group("data");
    d.set_attr("task", ds.task);
    d.set_attr("P", P);
    d.set_attr("Q", Q);
    d.set_attr("T", std::int64_t{ds.tokens});
    d.set_attr("N0", std::int64_t{N0});
    d.set_attr("L", std::int64_t{L});
    std::vector<std::int64_t> heads(shape.heads.begin(), shape.heads.end());
    d.set_attr("heads", heads);
    d.set_attr("H_tot", std::int64_t{H});
    d.set_attr("path_labels",
               ds.attention.path_labels.empty() ? ds.attention.default_path_labels() : ds.attention.path_labels);
    const hsize_t cs = hs(std::min<std::int64_t>(o.draws, 64));
    file.create_dataset<double>("samples/U1", {hC, 0, hH, hH}, {hC, H5S_UNLIMITED, hH, hH}, {1, cs, hH, hH});
    file.create_dataset<double>("samples/f_test", {hC, 0, hQ}, {hC, H5S_UNLIMITED, hQ},
                                {1, hs(std::min<std::int64_t>(f_rows_total, 16)), std::min<hsize_t>(hQ, 4096)});
    const hsize_t cst = hs(std::min<std::int64_t>(o.draws, 1024));
    for (const char* s : {"step_size", "energy", "accept_stat", "log_density"})
      file.create_dataset<double>(fmt::format("samples/stats/{}", s), {hC, 0}, {hC, H5S_UNLIMITED}, {1, cst});
    for (const char* s : {"tree_depth", "n_leapfrog"})
      file.create_dataset<std::int64_t>(fmt::format("samples/stats/{}", s), {hC, 0}, {hC, H5S_UNLIMITED}, {1, cst});
    file.create_dataset<std::int8_t>("samples/stats/divergent", {hC, 0}, {hC, H5S_UNLIMITED}, {1, cst});
    CheckpointStore::create(file, C, n, fingerprint, Chain::metric_size(n, copt.dense_metric));
    file.flush();
  }
  CheckpointStore store(file, C, n, fingerprint, Chain::metric_size(n, copt.dense_metric));
  double seconds_before = 0;
  if (store.has_state()) {
    // A corrupt chain state is found on its group's ranks only: agree before anyone unwinds (closing the
    // file is collective), then every rank throws.
    std::string error;
    try {
      ch.restore(store.read(chain, &seconds_before));
    } catch (const InputError& e) {
      error = e.what();
    }
    if (world_.any(!error.empty()))
      throw InputError(error.empty() ? "cannot resume: another chain's checkpoint is unusable (see its ranks' message)"
                                     : error);
    const std::string missing = missing_draws(file, std::max<std::int64_t>(0, ch.iteration() - o.warmup), o.thin);
    ATTN_REQUIRE(missing.empty(), InputError,
                 "cannot resume from '{}': it is shortened ({}); remove it to start afresh",
                 h5::OutputFile::partial_path(o.output), missing);
    log.info("resumed from '{}': chain 0 at iteration {} of {}", h5::OutputFile::partial_path(o.output), ch.iteration(),
             o.warmup + o.draws);
  } else {
    auto t = timers.stage("initialise");
    ch.initialise();
  }

  // 6. Rounds of ≤ M iterations; after each: write the draws, checkpoint (collective over the world).
  std::int64_t written = std::max<std::int64_t>(0, ch.iteration() - o.warmup);
  DrawBuffer buf;
  std::vector<double> U(sz(H) * sz(H)), u(sz(H) * sz(N0)), f(sz(test.local.size()));
  const double start = wall_seconds();
  Progress progress(log, "chain 0 iterations", static_cast<long>(o.warmup + o.draws), o.progress_seconds);
  std::int64_t divergences = 0;
  double accept_sum = 0;
  std::int64_t accept_count = 0;

  auto write_round = [&]() {
    auto t = timers.stage("write");
    const std::int64_t total = written + buf.count;
    const std::int64_t max_total = world_.max(total);
    auto grow = [&](const std::string& name, std::int64_t rows) {
      auto ds_ = file.dataset(name);
      auto dims = ds_.dims();
      if (dims[1] < hs(rows)) {
        dims[1] = hs(rows);
        ds_.extend(dims);
      }
      return ds_;
    };
    const bool w = group_root && buf.count > 0;
    const hsize_t c = hs(chain), s0 = hs(written), nb = w ? hs(buf.count) : 0;
    grow("samples/U1", max_total).write_slab<double>({c, s0, 0, 0}, {w ? 1u : 0u, nb, w ? hH : 0, w ? hH : 0},
                                                     buf.U.data());
    auto put = [&](const char* name, const auto& v) {
      using T = typename std::decay_t<decltype(v)>::value_type;
      grow(fmt::format("samples/stats/{}", name), max_total)
          .template write_slab<T>({c, s0}, {w ? 1u : 0u, nb}, v.data());
    };
    put("step_size", buf.step_size);
    put("energy", buf.energy);
    put("accept_stat", buf.accept_stat);
    put("log_density", buf.log_density);
    put("tree_depth", buf.tree_depth);
    put("n_leapfrog", buf.n_leapfrog);
    put("divergent", buf.divergent);
    // f_test: every shard writes its own test rows.
    const std::int64_t f0 = (written + o.thin - 1) / o.thin;
    const std::int64_t max_f = (max_total + o.thin - 1) / o.thin;
    const bool wf = buf.f_rows > 0 && test.local.size() > 0;
    grow("samples/f_test", max_f)
        .write_slab<double>({c, hs(f0), hs(test.local.begin)},
                            {wf ? 1u : 0u, wf ? hs(buf.f_rows) : 0, wf ? hs(test.local.size()) : 0}, buf.f.data());
    written = total;
    buf.clear();
  };

  bool interrupted = false;
  std::int64_t iterations_this_run = 0;
  double busy = 0;  // seconds this chain spent iterating (not waiting at checkpoints)
  while (true) {
    std::int64_t in_round = 0;
    bool stop = false;
    {
      auto t = timers.stage("sample");
      while (!ch.done() && in_round < o.checkpoint_every && !stop) try {
        const double t_iter = wall_seconds();
        const bool warm = ch.warming_up();
        const NutsStats s = ch.iterate();
        ++in_round;
        if (o.interrupt_after >= 0 && ++iterations_this_run >= o.interrupt_after) request_stop();
        if (!warm) {
          const std::int64_t draw = written + buf.count;
          if (joint)
            joint->observe(ch.position().data(), U.data(), u.data());
          else
            marginal->observe(ch.position().data(), ch.rng(), U.data(), u.data());
          buf.U.insert(buf.U.end(), U.begin(), U.end());
          if (draw % o.thin == 0) {
            PathNetwork::predict(u.data(), test.xt.data(), test.local.size(), H, N0, f.data());
            buf.f.insert(buf.f.end(), f.begin(), f.end());
            ++buf.f_rows;
          }
          buf.step_size.push_back(s.step_size);
          buf.energy.push_back(s.energy);
          buf.accept_stat.push_back(s.accept_stat);
          buf.log_density.push_back(s.log_density);
          buf.tree_depth.push_back(s.tree_depth);
          buf.n_leapfrog.push_back(s.n_leapfrog);
          buf.divergent.push_back(s.divergent ? 1 : 0);
          ++buf.count;
        }
        busy += wall_seconds() - t_iter;
        divergences += s.divergent ? 1 : 0;
        accept_sum += s.accept_stat;
        ++accept_count;
        if (log.printing())
          progress.update(static_cast<long>(ch.iteration()),
                          fmt::format("{}, step size {:.3g}, tree depth {}, accept {:.3f}, divergences {}",
                                      ch.warming_up() ? "warm-up" : "sampling", s.step_size, s.tree_depth,
                                      accept_sum / double(accept_count), divergences));
        stop = group.any(stop_requested());
      } catch (const Error& e) {
        // A failure inside one chain: the other groups are not in step, abort now (never unwind into
        // the collective file close while they wait).
        abort_all(fmt::format("sample, chain {}: {}", chain, e.what()), e.exit_code());
      } catch (const std::exception& e) {
        abort_all(fmt::format("sample, chain {}: {}", chain, e.what()), 1);
      }
    }
    const bool any_stop = world_.any(stop || stop_requested());
    write_round();
    {
      auto t = timers.stage("checkpoint");
      ChainState st = ch.state();
      store.write(world_, chain, group_root ? &st : nullptr, seconds_before + busy);
    }
    const std::int64_t done_min = world_.min(ch.iteration());
    log.info("checkpoint: every chain at iteration ≥ {} of {} ({:.1f} s)", done_min, o.warmup + o.draws,
             wall_seconds() - start);
    if (any_stop) {
      interrupted = true;
      break;
    }
    if (world_.all(ch.done())) break;
  }
  if (interrupted) {
    out.reset();  // collective close: the partial file is complete up to the checkpoint
    throw Interrupted(fmt::format("sample: stopped by a signal; checkpoint written to '{}'. Continue with the same "
                                  "options plus --resume.",
                                  h5::OutputFile::partial_path(o.output)));
  }
  const double seconds = seconds_before + busy;

  // 7. Summaries and diagnostics (computed on rank 0, written collectively).
  {
    auto t = timers.stage("summaries");
    const bool root = world_.is_root();
    const std::int64_t S = o.draws, Sf = f_rows_total;
    std::vector<double> Ud, fd;
    std::vector<double> step, energy, accept;
    std::vector<std::int64_t> depth;
    std::vector<std::int8_t> div;
    if (root) {
      Ud = file.dataset("samples/U1").read_all<double>();
      fd = file.dataset("samples/f_test").read_all<double>();
      step = file.dataset("samples/stats/step_size").read_all<double>();
      energy = file.dataset("samples/stats/energy").read_all<double>();
      accept = file.dataset("samples/stats/accept_stat").read_all<double>();
      depth = file.dataset("samples/stats/tree_depth").read_all<std::int64_t>();
      div = file.dataset("samples/stats/divergent").read_all<std::int8_t>();
    }
    const std::size_t HH = sz(H) * sz(H);
    std::vector<double> U_mean(HH), U_mcse(HH), U_rhat(HH), U_bulk(HH), U_tail(HH);
    std::vector<double> p_mean(sz(Q)), p_var(sz(Q)), p_rhat(sz(Q)), p_bulk(sz(Q)), p_tail(sz(Q));
    std::vector<double> ch_ebfmi(sz(C)), ch_accept(sz(C)), ch_step(sz(C));
    std::vector<std::int64_t> ch_div(sz(C)), ch_hits(sz(C));
    double accuracy = 0, bias = 0, variance = 0;
    if (root) {
      diagnostics::Draws d(sz(C), std::vector<double>(sz(S)));
      for (std::size_t e = 0; e < HH; ++e) {
        for (int c = 0; c < C; ++c)
          for (std::int64_t s = 0; s < S; ++s) d[sz(c)][sz(s)] = Ud[(sz(c) * sz(S) + sz(s)) * HH + e];
        double m = 0;
        for (const auto& cc : d)
          for (double x : cc) m += x;
        U_mean[e] = m / double(C * S);
        U_mcse[e] = diagnostics::mcse_mean(d);
        U_rhat[e] = diagnostics::rhat(d);
        U_bulk[e] = diagnostics::ess_bulk(d);
        U_tail[e] = diagnostics::ess_tail(d);
      }
      diagnostics::Draws df(sz(C), std::vector<double>(sz(Sf)));
      for (std::int64_t q = 0; q < Q; ++q) {
        for (int c = 0; c < C; ++c)
          for (std::int64_t s = 0; s < Sf; ++s) df[sz(c)][sz(s)] = fd[(sz(c) * sz(Sf) + sz(s)) * sz(Q) + sz(q)];
        double m = 0, m2 = 0;
        for (const auto& cc : df)
          for (double x : cc) m += x;
        m /= double(C * Sf);
        for (const auto& cc : df)
          for (double x : cc) m2 += (x - m) * (x - m);
        p_mean[sz(q)] = m;
        p_var[sz(q)] = C * Sf > 1 ? m2 / double(C * Sf - 1) : 0.0;
        p_rhat[sz(q)] = diagnostics::rhat(df);
        p_bulk[sz(q)] = diagnostics::ess_bulk(df);
        p_tail[sz(q)] = diagnostics::ess_tail(df);
      }
      for (int c = 0; c < C; ++c) {
        std::vector<double> e(energy.begin() + static_cast<std::ptrdiff_t>(sz(c) * sz(S)),
                              energy.begin() + static_cast<std::ptrdiff_t>(sz(c + 1) * sz(S)));
        ch_ebfmi[sz(c)] = diagnostics::ebfmi(e);
        double a = 0;
        for (std::int64_t s = 0; s < S; ++s) {
          const std::size_t i = sz(c) * sz(S) + sz(s);
          a += accept[i];
          ch_div[sz(c)] += div[i];
          ch_hits[sz(c)] += depth[i] >= o.max_depth ? 1 : 0;
        }
        ch_accept[sz(c)] = a / double(S);
        ch_step[sz(c)] = step[sz(c) * sz(S)];
      }
    }
    // Test labels (gathered from the shards of group 0's layout: every group holds the same rows).
    std::vector<double> ytest = group.allgather_blocks(test.y);
    if (root) {
      std::int64_t correct = 0;
      for (std::int64_t q = 0; q < Q; ++q) {
        const double m = p_mean[sz(q)], y = ytest[sz(q)];
        if ((m > 0 && y > 0) || (m < 0 && y < 0)) ++correct;
        bias += (m - y) * (m - y);
        variance += p_var[sz(q)];
      }
      accuracy = double(correct) / double(Q);
      bias /= double(Q);
      variance /= double(Q);
    }
    // Per-chain counters known to the group roots.
    auto gather_roots = [&](double v) {
      const auto all = world_.allgather_blocks({v});
      std::vector<double> r(sz(C));
      for (int c = 0; c < C; ++c) r[sz(c)] = all[sz(c * K)];
      return r;
    };
    const auto grads = gather_roots(double(ch.gradient_evaluations()));
    const auto secs = gather_roots(seconds);
    std::vector<std::int64_t> ch_grads(sz(C));
    for (int c = 0; c < C; ++c) ch_grads[sz(c)] = static_cast<std::int64_t>(grads[sz(c)]);

    file.write<double>("sampled/U1/mean", {hH, hH}, U_mean);
    file.write<double>("sampled/U1/mcse", {hH, hH}, U_mcse);
    file.write<double>("sampled/predictor/mean", {hQ}, p_mean);
    file.write<double>("sampled/predictor/var", {hQ}, p_var);
    file.write_scalar<double>("sampled/predictor/accuracy", accuracy);
    file.write_scalar<double>("sampled/predictor/bias", bias);
    file.write_scalar<double>("sampled/predictor/variance", variance);
    file.write<double>("diagnostics/U1/rhat", {hH, hH}, U_rhat);
    file.write<double>("diagnostics/U1/ess_bulk", {hH, hH}, U_bulk);
    file.write<double>("diagnostics/U1/ess_tail", {hH, hH}, U_tail);
    file.write<double>("diagnostics/predictor/rhat", {hQ}, p_rhat);
    file.write<double>("diagnostics/predictor/ess_bulk", {hQ}, p_bulk);
    file.write<double>("diagnostics/predictor/ess_tail", {hQ}, p_tail);
    file.write<std::int64_t>("diagnostics/chains/divergences", {hC}, ch_div);
    file.write<std::int64_t>("diagnostics/chains/treedepth_hits", {hC}, ch_hits);
    file.write<double>("diagnostics/chains/ebfmi", {hC}, ch_ebfmi);
    file.write<double>("diagnostics/chains/accept_rate", {hC}, ch_accept);
    file.write<double>("diagnostics/chains/step_size", {hC}, ch_step);
    file.write<std::int64_t>("diagnostics/chains/gradient_evaluations", {hC}, ch_grads);
    file.write<double>("diagnostics/chains/seconds", {hC}, secs);
    // Headline numbers (root's values broadcast so every rank writes the same attributes). NaN
    // propagates: a NaN R-hat or ESS is reported as NaN and warned about, never dropped.
    using diagnostics::max_or_nan;
    using diagnostics::min_or_nan;
    std::vector<double> head{max_or_nan(U_rhat), max_or_nan(p_rhat), min_or_nan(U_bulk), min_or_nan(U_tail),
                             min_or_nan(p_bulk), min_or_nan(p_tail), accuracy};
    world_.bcast(head);
    std::int64_t total_div = 0;
    for (auto x : ch_div) total_div += x;
    std::vector<double> td{double(total_div)};
    world_.bcast(td);
    // Stan's warnings (diagnostics.hpp); a chain whose every draw after warm-up diverged is an error.
    std::string joined, all_divergent;
    if (root) {
      for (const auto& w : diagnostics::stan_warnings({{"U1", U_rhat, U_bulk, U_tail}, {"predictor", p_rhat, p_bulk, p_tail}},
                                                      C, ch_div, ch_hits, o.max_depth, ch_ebfmi))
        joined += (joined.empty() ? "" : "\n") + w;
      for (int c = 0; c < C; ++c)
        if (ch_div[sz(c)] == S) all_divergent += fmt::format("{}{}", all_divergent.empty() ? "" : ", ", c);
    }
    world_.bcast(joined);
    world_.bcast(all_divergent);
    if (!all_divergent.empty())
      throw NumericalError(fmt::format("sample: every draw after warm-up of chain(s) {} is a divergent transition: "
                                       "the sampler did not explore the posterior (see docs/sampling.md)",
                                       all_divergent));
    std::vector<std::string> warnings;
    for (std::size_t a = 0, b = 0; a < joined.size(); a = b + 1) {
      b = joined.find('\n', a);
      if (b == std::string::npos) b = joined.size();
      warnings.push_back(joined.substr(a, b - a));
    }
    for (const auto& w : warnings) log.warn("diagnostics: {}", w);
    auto g = file.require_group("diagnostics");
    g.set_attr("rhat_max_U1", head[0]);
    g.set_attr("rhat_max_predictor", head[1]);
    g.set_attr("ess_bulk_min_U1", head[2]);
    g.set_attr("ess_tail_min_U1", head[3]);
    g.set_attr("ess_bulk_min_predictor", head[4]);
    g.set_attr("ess_tail_min_predictor", head[5]);
    g.set_attr("divergences", static_cast<std::int64_t>(td[0]));
    g.set_attr("passed", warnings.empty() ? 1 : 0);
    g.set_attr("warnings", warnings);
    g.set_attr("definitions",
               "rhat: rank-normalised split-R-hat, max(bulk, folded tail) (Vehtari et al. 2021); ess_bulk: ESS of the "
               "rank-normalised split chains; ess_tail: min ESS of I(x<=q05), I(x<=q95); mcse: sd/sqrt(ESS_mean); "
               "ebfmi: mean squared energy difference / energy variance; treedepth_hits: draws at the max depth");
    log.info("sampled: accuracy {:.4f}, max R-hat U1 {:.4f}, predictor {:.4f}, min bulk ESS U1 {:.0f}, divergences {}; "
             "diagnostics {}",
             head[6], head[0], head[1], head[2], total_div,
             warnings.empty() ? "passed" : fmt::format("FAILED ({} warnings)", warnings.size()));
    if (root && log.printing()) {
      std::string row;
      for (int i = 0; i < H; ++i) {
        row.clear();
        for (int j = 0; j < H; ++j) row += fmt::format(" {:9.4f}", U_mean[sz(i) * sz(H) + sz(j)]);
        log.info("  U1[{}] {}", i, row);
      }
    }
  }

  // 8. Provenance, descriptions and dimension scales, commit.
  prov.finish();
  write_provenance(file, prov, timers);
  for (const auto& p : h5::annotate(file, samples_file_notes(), file.group("data").attr_strings("path_labels")))
    log.warn("no description for dataset {} (docs/files.md)", p);
  out->commit();
  log.info("wrote '{}' ({:.1f} s sampling)", o.output, seconds);
  return 0;
}

}  // namespace attnpaths
