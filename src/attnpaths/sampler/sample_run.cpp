#include "attnpaths/sampler/sample_run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "attnpaths/core/index.hpp"
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
#include "attnpaths/predict/predictor.hpp"
#include "attnpaths/results/samples_file.hpp"
#include "attnpaths/sampler/chain.hpp"
#include "attnpaths/sampler/target_choice.hpp"
#include "attnpaths/sampler/checkpoint.hpp"
#include "attnpaths/sampler/diagnostics.hpp"
#include "attnpaths/sampler/posterior.hpp"

namespace attnpaths {

namespace {

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

std::string SampleOptions::fingerprint(const std::string& data_checksum, const Architecture& arch) const {
  const std::vector<int> w = arch.whole_widths();
  std::vector<std::string> vs;
  for (double x : arch.variances) vs.push_back(fmt::format("{:.17g}", x));
  return fmt::format(
      "data_checksum={};widths={};variances={};temperature={:.17g};chains={};draws={};warmup={};seed={};"
      "target_accept={:.17g};max_depth={};thin={};target={};metric={};reduction_blocks={}",
      data_checksum, join(w), join(vs), temperature, chains, draws, warmup, seed, target_accept, max_depth, thin, target,
      metric, reduction_blocks);
}

Architecture SampleOptions::architecture(int input_dim, const std::vector<int>& heads) const {
  const int L = static_cast<int>(heads.size());
  const Architecture arch =
      Architecture::network(input_dim, heads, widths.empty() ? std::vector<int>(sz(L + 1), width) : widths,
                            variances.empty() ? std::vector<double>(sz(L + 2), 1.0) : variances);
  ATTN_REQUIRE(static_cast<int>(arch.widths.size()) == L + 1, InputError,
               "sample: --widths has {} entries, the dataset's network needs L + 1 = {} (w0 … wL)", arch.widths.size(),
               L + 1);
  ATTN_REQUIRE(static_cast<int>(arch.variances.size()) == L + 2, InputError,
               "sample: --variances has {} entries, the dataset's network needs L + 2 = {} (σ0², σ1² … σL², σa²)",
               arch.variances.size(), L + 2);
  arch.validate(true);
  return arch;
}

// ------------------------------------------------------------------------------------------ run

// What the stages build, in order.
struct SampleRun::State {
  StageTimers timers;
  Log log;
  Provenance provenance;
  StopSignals signals;
  // split
  int C = 0, K = 0, chain = 0;
  std::unique_ptr<Comm> group;
  // load
  Dataset data;
  std::string checksum;
  Architecture shape;
  std::int64_t P = 0, Q = 0;
  PathInputs train, test;
  // posterior and chain
  std::unique_ptr<ExampleBlocks> blocks;
  std::unique_ptr<JointPosterior> joint;
  std::unique_ptr<MarginalPosterior> marginal;
  LogDensity* target = nullptr;
  std::unique_ptr<Chain> ch;
  Config config;
  // output
  std::unique_ptr<h5::OutputFile> out;
  std::unique_ptr<SamplesFileWriter> writer;
  std::unique_ptr<CheckpointStore> store;
  double seconds_before = 0;
  // sampling
  std::int64_t written = 0;
  DrawBuffer buffer;
  std::vector<double> U, u, f;
  std::unique_ptr<Progress> progress;
  std::int64_t divergences = 0, accept_count = 0, iterations_this_run = 0;
  double accept_sum = 0, busy = 0, start = 0;

  State(const Comm& world, const std::vector<std::string>& command_line, bool quiet)
      : log(world, quiet), provenance(Provenance::collect(world, command_line)) {}
  bool group_root() const { return group->is_root(); }
};

SampleRun::SampleRun(SampleOptions options, const Comm& world, std::vector<std::string> command_line)
    : options_(std::move(options)), world_(world), command_line_(std::move(command_line)) {}

SampleRun::~SampleRun() = default;

int SampleRun::run() {
  options_.validate();
  const h5::OutputClaim claim =
      h5::OutputFile::claim(options_.output, world_, {options_.overwrite, options_.resume, {options_.data}});
  s_ = std::make_unique<State>(world_, command_line_, options_.quiet);
  split_world();
  load();
  compute_inputs();
  build_posterior();
  open_output(claim.partial_existed());
  start_chain();
  sample();
  summarise();
  finish();
  return 0;
}

// 1. World → C chain groups × K example shards (by default C = ranks / K).
void SampleRun::split_world() {
  SampleOptions& o = options_;
  if (o.chains == 0) {
    ATTN_REQUIRE(world_.size() % o.shards == 0, InputError,
                 "sample: {} MPI ranks cannot be split into chains of --shards {} ranks each", world_.size(), o.shards);
    o.chains = world_.size() / o.shards;
  }
  State& s = *s_;
  s.C = o.chains;
  s.K = o.shards;
  ATTN_REQUIRE(world_.size() == s.C * s.K, InputError,
               "sample: {} MPI ranks, but --chains {} × --shards {} = {} are needed (run mpirun -n {})", world_.size(),
               s.C, s.K, s.C * s.K, s.C * s.K);
  s.chain = world_.rank() / s.K;
  s.group = std::make_unique<Comm>(world_.split(s.chain, world_.rank() % s.K));
}

// 2. The dataset (rows sharded over the group), its checksum, the network shape, the target.
void SampleRun::load() {
  SampleOptions& o = options_;
  State& s = *s_;
  {
    auto t = s.timers.stage("load dataset");
    s.data = read_dataset(o.data, *s.group);
  }
  s.checksum = content_checksum(o.data, world_);
  s.shape = o.architecture(s.data.token_dim, s.data.attention.heads());
  s.P = s.data.train.count;
  s.Q = s.data.test.count;
  ATTN_REQUIRE(s.P >= 1 && s.Q >= 1, InputError, "sample: '{}' needs training and test examples (P = {}, Q = {})",
               o.data, s.P, s.Q);
  if (o.target == "auto") {
    o.target = automatic_target(s.shape, s.P, o.temperature, o.max_depth);
    for (const TargetCost& c : target_costs(s.shape, s.P, o.temperature, o.max_depth))
      s.log.info("--target auto: {} ({} coordinates): ~{:.3g} CPU s per gradient × {:.0f} gradients per effective draw = "
                 "~{:.3g} CPU s per effective draw (model){}",
                 c.target, c.coordinates, c.seconds_per_gradient, c.gradients_per_effective_draw,
                 c.seconds_per_effective_draw(), c.target == o.target ? ": chosen" : "");
  }
}

// 3. Path inputs x̃ (docs/model.md §1.3), computed once.
void SampleRun::compute_inputs() {
  State& s = *s_;
  auto t = s.timers.stage("path inputs");
  s.train = compute_path_inputs(s.data.train, s.data.attention, s.data.tokens, s.data.token_dim);
  s.test = compute_path_inputs(s.data.test, s.data.attention, s.data.tokens, s.data.token_dim);
}

// 4. The posterior of this group (docs/model.md §2, §4) and its chain; the resolved configuration.
void SampleRun::build_posterior() {
  SampleOptions& o = options_;
  State& s = *s_;
  if (o.target == "joint") {
    s.blocks = std::make_unique<ExampleBlocks>(s.P, o.reduction_blocks, *s.group);
    s.joint = std::make_unique<JointPosterior>(s.shape, o.temperature,
                                               redistribute_rows(s.train, s.blocks->local(), *s.group), *s.blocks);
    s.target = s.joint.get();
  } else {
    s.marginal = std::make_unique<MarginalPosterior>(
        s.shape, o.temperature, redistribute_rows(s.train, {0, s.P}, *s.group),
        MarginalPosterior::coordinates_of(o.target));
    s.target = s.marginal.get();
  }
  // auto = diag: on every Markov posterior measured the dense metric did not shorten the trees (docs/sampling.md).
  if (o.metric == "auto") o.metric = "diag";
  ChainOptions copt;
  copt.dense_metric = o.metric == "dense";
  copt.warmup = o.warmup;
  copt.draws = o.draws;
  copt.target_accept = o.target_accept;
  copt.nuts.max_depth = o.max_depth;
  s.ch = std::make_unique<Chain>(*s.target, copt, o.seed, s.chain);
  const std::int64_t n = s.target->dimension();
  s.config = o.to_config();
  s.config.set("data_path", std::filesystem::absolute(o.data).string());
  s.config.set("data_checksum", s.checksum);
  s.config.set("widths", s.shape.whole_widths());
  s.config.set("variances", ConfigValue(s.shape.variances));
  s.config.set("parameters", static_cast<long>(s.shape.size()));
  s.config.set("sampled_dimension", static_cast<long>(n));
  s.config.set("mpi_ranks", world_.size());
  s.config.echo(s.log, "attnpaths sample");
  s.log.info("network: N0 = {}, L = {}, heads [{}], H_tot = {}, widths [{}], {} weights; target {} ({} sampled), {} metric",
             s.shape.input_dim, s.data.attention.depth(), join(s.shape.heads), s.shape.paths(), join(s.shape.whole_widths()),
             s.shape.size(), o.target, n, o.metric);
}

// 5. The output file (<out>.partial): a new layout, or the one being resumed.
void SampleRun::open_output(bool partial_exists) {
  const SampleOptions& o = options_;
  State& s = *s_;
  const std::string fingerprint = o.fingerprint(s.checksum, s.shape);
  const bool resuming = o.resume && partial_exists;
  if (o.resume && !partial_exists)
    s.log.warn("--resume: '{}' does not exist, starting a new run", h5::OutputFile::partial_path(o.output));
  s.out = std::make_unique<h5::OutputFile>(o.output, world_, resuming);
  h5::File& file = s.out->file();
  s.writer = std::make_unique<SamplesFileWriter>(file);
  const int C = s.C;
  const std::int64_t n = s.target->dimension();
  if (!resuming) {
    write_format(file, "attnpaths-samples", 1);
    write_config(file, s.config);
    write_data_description();
    s.writer->create_draws({C, s.shape.paths(), s.Q, o.draws, (o.draws + o.thin - 1) / o.thin});
    CheckpointStore::create(file, C, n, fingerprint, Chain::metric_size(n, o.metric == "dense"));
    file.flush();
  }
  s.store = std::make_unique<CheckpointStore>(file, C, n, fingerprint, Chain::metric_size(n, o.metric == "dense"));
}

// The /data group: what the draws were computed on.
void SampleRun::write_data_description() const {
  const State& s = *s_;
  auto d = s.out->file().require_group("data");
  write_dataset_description(d, s.data, options_.data);
  d.set_attr("P", s.P);
  d.set_attr("Q", s.Q);
}

// The chain's starting state: its checkpoint (resume) or a fresh initial point.
void SampleRun::start_chain() {
  const SampleOptions& o = options_;
  State& s = *s_;
  if (!s.store->has_state()) {
    auto t = s.timers.stage("initialise");
    s.ch->initialise();
    return;
  }
  // A corrupt chain state is found on its group's ranks only: agree before anyone unwinds (closing the
  // file is collective), then every rank throws.
  std::string error;
  try {
    s.ch->restore(s.store->read(s.chain, &s.seconds_before));
  } catch (const InputError& e) {
    error = e.what();
  }
  if (world_.any(!error.empty()))
    throw InputError(error.empty() ? "cannot resume: another chain's checkpoint is unusable (see its ranks' message)"
                                   : error);
  const std::string missing =
      missing_draws(s.out->file(), std::max<std::int64_t>(0, s.ch->iteration() - o.warmup), o.thin);
  ATTN_REQUIRE(missing.empty(), InputError, "cannot resume from '{}': it is shortened ({}); remove it to start afresh",
               h5::OutputFile::partial_path(o.output), missing);
  s.log.info("resumed from '{}': chain 0 at iteration {} of {}", h5::OutputFile::partial_path(o.output),
             s.ch->iteration(), o.warmup + o.draws);
}

// 6. Rounds of ≤ M iterations; after each: write the draws, checkpoint (collective over the world).
// A stop signal on any rank ends the run after the round's checkpoint (Interrupted, exit 75).
void SampleRun::sample() {
  const SampleOptions& o = options_;
  State& s = *s_;
  const int H = s.shape.paths(), N0 = s.shape.input_dim;
  s.written = std::max<std::int64_t>(0, s.ch->iteration() - o.warmup);
  s.U.resize(sz(H) * sz(H));
  s.u.resize(sz(H) * sz(N0));
  s.f.resize(sz(s.test.local.size()));
  s.start = wall_seconds();
  s.progress = std::make_unique<Progress>(s.log, "chain 0 iterations", static_cast<long>(o.warmup + o.draws),
                                          o.progress_seconds);
  while (true) {
    const bool stop = sample_round();
    const bool any_stop = world_.any(stop || stop_requested());
    write_round();
    {
      auto t = s.timers.stage("checkpoint");
      ChainState st = s.ch->state();
      s.store->write(world_, s.chain, s.group_root() ? &st : nullptr, s.seconds_before + s.busy);
    }
    s.log.info("checkpoint: every chain at iteration ≥ {} of {} ({:.1f} s)", world_.min(s.ch->iteration()),
               o.warmup + o.draws, wall_seconds() - s.start);
    if (any_stop) {
      s.out.reset();  // collective close: the partial file is complete up to the checkpoint
      throw Interrupted(fmt::format("sample: stopped by a signal; checkpoint written to '{}'. Continue with the same "
                                    "options plus --resume.",
                                    h5::OutputFile::partial_path(o.output)));
    }
    if (world_.all(s.ch->done())) break;
  }
}

// Up to M iterations of this group's chain; returns whether a stop was requested. A failure inside
// the chain is this group's alone (the other groups are not in step): it propagates to main as a
// RankFailure, which skips every collective on the way and aborts all ranks with the chain's message.
bool SampleRun::sample_round() {
  const SampleOptions& o = options_;
  State& s = *s_;
  auto t = s.timers.stage("sample");
  std::int64_t in_round = 0;
  bool stop = false;
  while (!s.ch->done() && in_round < o.checkpoint_every && !stop) {
    try {
      iterate();
    } catch (const Error& e) {
      throw RankFailure(fmt::format("sample, chain {}: {}", s.chain, e.what()), e.exit_code());
    } catch (const std::bad_alloc&) {
      throw;  // main reports the allocation that failed (exit 7)
    } catch (const std::exception& e) {
      throw RankFailure(fmt::format("sample, chain {}: {}", s.chain, e.what()), 1);
    }
    ++in_round;
    stop = s.group->any(stop_requested());
  }
  return stop;
}

// One iteration of this group's chain; after warm-up its draw goes to the buffer.
void SampleRun::iterate() {
  const SampleOptions& o = options_;
  State& s = *s_;
  const double t_iter = wall_seconds();
  const bool warm = s.ch->warming_up();
  const NutsStats st = s.ch->iterate();
  if (o.interrupt_after >= 0 && ++s.iterations_this_run >= o.interrupt_after) request_stop();
  if (o.fail_after >= 0 && s.chain == s.C - 1 && s.ch->iteration() >= o.fail_after)
    throw NumericalError(fmt::format("--fail-after {}: a failure injected for testing", o.fail_after));
  if (!warm) record_draw(st);
  s.busy += wall_seconds() - t_iter;
  s.divergences += st.divergent ? 1 : 0;
  s.accept_sum += st.accept_stat;
  ++s.accept_count;
  if (s.log.printing())
    s.progress->update(static_cast<long>(s.ch->iteration()),
                       fmt::format("{}, step size {:.3g}, tree depth {}, accept {:.3f}, divergences {}",
                                   s.ch->warming_up() ? "warm-up" : "sampling", st.step_size, st.tree_depth,
                                   s.accept_sum / double(s.accept_count), s.divergences));
}

// The draw's U^s, its test predictions (every thin-th draw) and NUTS statistics, into the buffer.
void SampleRun::record_draw(const NutsStats& st) {
  State& s = *s_;
  DrawBuffer& buf = s.buffer;
  const std::int64_t draw = s.written + buf.count;
  if (s.joint)
    s.joint->observe(s.ch->position().data(), s.U.data(), s.u.data());
  else
    s.marginal->observe(s.ch->position().data(), s.ch->rng(), s.U.data(), s.u.data());
  buf.U.insert(buf.U.end(), s.U.begin(), s.U.end());
  if (draw % options_.thin == 0) {
    PathNetwork::predict(s.u.data(), s.test.xt.data(), s.test.local.size(), s.shape.paths(), s.shape.input_dim,
                         s.f.data());
    buf.f.insert(buf.f.end(), s.f.begin(), s.f.end());
    ++buf.f_rows;
  }
  buf.step_size.push_back(st.step_size);
  buf.energy.push_back(st.energy);
  buf.accept_stat.push_back(st.accept_stat);
  buf.log_density.push_back(st.log_density);
  buf.tree_depth.push_back(st.tree_depth);
  buf.n_leapfrog.push_back(st.n_leapfrog);
  buf.divergent.push_back(st.divergent ? 1 : 0);
  ++buf.count;
}

// The buffered draws of every chain into /samples (collective: the group roots write).
void SampleRun::write_round() {
  const SampleOptions& o = options_;
  State& s = *s_;
  DrawBuffer& buf = s.buffer;
  auto t = s.timers.stage("write");
  const std::int64_t total = s.written + buf.count;
  const std::int64_t max_total = world_.max(total);
  const bool w = s.group_root() && buf.count > 0;
  const hsize_t c = hs(s.chain), s0 = hs(s.written), nb = w ? hs(buf.count) : 0, hH = hs(s.shape.paths());
  s.writer->draws("samples/U1", max_total)
      .write_slab<double>({c, s0, 0, 0}, {w ? 1u : 0u, nb, w ? hH : 0, w ? hH : 0}, buf.U.data());
  auto put = [&](const char* name, const auto& v) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    s.writer->draws(fmt::format("samples/stats/{}", name), max_total)
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
  const std::int64_t f0 = (s.written + o.thin - 1) / o.thin, max_f = (max_total + o.thin - 1) / o.thin;
  const bool wf = buf.f_rows > 0 && s.test.local.size() > 0;
  s.writer->draws("samples/f_test", max_f)
      .write_slab<double>({c, hs(f0), hs(s.test.local.begin)},
                          {wf ? 1u : 0u, wf ? hs(buf.f_rows) : 0, wf ? hs(s.test.local.size()) : 0}, buf.f.data());
  s.written = total;
  buf.clear();
}

namespace {

// Draws of one quantity, [C][S], from a dataset read as [C, S, n] at component e.
diagnostics::Draws component_draws(const std::vector<double>& all, int C, std::int64_t S, std::size_t n,
                                   std::size_t e) {
  diagnostics::Draws d(sz(C), std::vector<double>(sz(S)));
  for (int c = 0; c < C; ++c)
    for (std::int64_t s = 0; s < S; ++s) d[sz(c)][sz(s)] = all[(sz(c) * sz(S) + sz(s)) * n + e];
  return d;
}

// Pooled mean, MCSE, R̂ and ESS of every entry of U^s (Vehtari et al. 2021).
void summarise_U1(const std::vector<double>& Ud, int C, std::int64_t S, std::size_t HH, SampledSummaries& out) {
  for (auto* v : {&out.U_mean, &out.U_mcse, &out.U_rhat, &out.U_bulk, &out.U_tail}) v->assign(HH, 0.0);
  for (std::size_t e = 0; e < HH; ++e) {
    const diagnostics::Draws d = component_draws(Ud, C, S, HH, e);
    double m = 0;
    for (const auto& cc : d)
      for (double x : cc) m += x;
    out.U_mean[e] = m / double(C * S);
    out.U_mcse[e] = diagnostics::mcse_mean(d);
    out.U_rhat[e] = diagnostics::rhat(d);
    out.U_bulk[e] = diagnostics::ess_bulk(d);
    out.U_tail[e] = diagnostics::ess_tail(d);
  }
}

// Mean, unbiased variance, R̂ and ESS of f on every test example.
void summarise_predictor(const std::vector<double>& fd, int C, std::int64_t Sf, std::int64_t Q, SampledSummaries& out) {
  for (auto* v : {&out.p_mean, &out.p_var, &out.p_rhat, &out.p_bulk, &out.p_tail}) v->assign(sz(Q), 0.0);
  for (std::int64_t q = 0; q < Q; ++q) {
    const diagnostics::Draws df = component_draws(fd, C, Sf, sz(Q), sz(q));
    double m = 0, m2 = 0;
    for (const auto& cc : df)
      for (double x : cc) m += x;
    m /= double(C * Sf);
    for (const auto& cc : df)
      for (double x : cc) m2 += (x - m) * (x - m);
    out.p_mean[sz(q)] = m;
    out.p_var[sz(q)] = C * Sf > 1 ? m2 / double(C * Sf - 1) : 0.0;
    out.p_rhat[sz(q)] = diagnostics::rhat(df);
    out.p_bulk[sz(q)] = diagnostics::ess_bulk(df);
    out.p_tail[sz(q)] = diagnostics::ess_tail(df);
  }
}

// E-BFMI, acceptance, divergences, tree-depth hits and first step size of every chain.
void summarise_chains(const h5::File& file, int C, std::int64_t S, int max_depth, SampledSummaries& out) {
  const auto step = file.dataset("samples/stats/step_size").read_all<double>();
  const auto energy = file.dataset("samples/stats/energy").read_all<double>();
  const auto accept = file.dataset("samples/stats/accept_stat").read_all<double>();
  const auto depth = file.dataset("samples/stats/tree_depth").read_all<std::int64_t>();
  const auto div = file.dataset("samples/stats/divergent").read_all<std::int8_t>();
  out.chain_ebfmi.assign(sz(C), 0.0);
  out.chain_accept.assign(sz(C), 0.0);
  out.chain_step.assign(sz(C), 0.0);
  out.chain_divergences.assign(sz(C), 0);
  out.chain_treedepth_hits.assign(sz(C), 0);
  for (int c = 0; c < C; ++c) {
    std::vector<double> e(energy.begin() + static_cast<std::ptrdiff_t>(sz(c) * sz(S)),
                          energy.begin() + static_cast<std::ptrdiff_t>(sz(c + 1) * sz(S)));
    out.chain_ebfmi[sz(c)] = diagnostics::ebfmi(e);
    double a = 0;
    for (std::int64_t s = 0; s < S; ++s) {
      const std::size_t i = sz(c) * sz(S) + sz(s);
      a += accept[i];
      out.chain_divergences[sz(c)] += div[i];
      out.chain_treedepth_hits[sz(c)] += depth[i] >= max_depth ? 1 : 0;
    }
    out.chain_accept[sz(c)] = a / double(S);
    out.chain_step[sz(c)] = step[sz(c) * sz(S)];
  }
}

// Accuracy (sign agreement), bias and variance of the sampled predictor on the test set.
void predictor_error(const std::vector<double>& y, SampledSummaries& out) {
  const double Q = static_cast<double>(out.p_mean.size());
  const ScoreSums sums = score_sums(out.p_mean, out.p_var, y);
  out.accuracy = sums.correct / Q;
  out.bias = sums.squared_error / Q;
  out.variance = sums.variance / Q;
}

std::vector<std::string> split_lines(const std::string& joined) {
  std::vector<std::string> lines;
  for (std::size_t a = 0, b = 0; a < joined.size(); a = b + 1) {
    b = joined.find('\n', a);
    if (b == std::string::npos) b = joined.size();
    lines.push_back(joined.substr(a, b - a));
  }
  return lines;
}

}  // namespace

// 7. Summaries and diagnostics: computed on rank 0 from the stored draws, written collectively.
void SampleRun::summarise() {
  const SampleOptions& o = options_;
  State& s = *s_;
  auto t = s.timers.stage("summaries");
  const bool root = world_.is_root();
  const h5::File& file = s.out->file();
  const int C = s.C, H = s.shape.paths();
  SampledSummaries sum;
  for (auto* v : {&sum.U_mean, &sum.U_mcse, &sum.U_rhat, &sum.U_bulk, &sum.U_tail}) v->assign(sz(H) * sz(H), 0.0);
  for (auto* v : {&sum.p_mean, &sum.p_var, &sum.p_rhat, &sum.p_bulk, &sum.p_tail}) v->assign(sz(s.Q), 0.0);
  for (auto* v : {&sum.chain_ebfmi, &sum.chain_accept, &sum.chain_step}) v->assign(sz(C), 0.0);
  sum.chain_divergences.assign(sz(C), 0);
  sum.chain_treedepth_hits.assign(sz(C), 0);
  if (root) {
    summarise_U1(file.dataset("samples/U1").read_all<double>(), C, o.draws, sz(H) * sz(H), sum);
    summarise_predictor(file.dataset("samples/f_test").read_all<double>(), C, (o.draws + o.thin - 1) / o.thin, s.Q,
                        sum);
    summarise_chains(file, C, o.draws, o.max_depth, sum);
  }
  // Test labels (gathered from the shards of the group: every group holds the same rows).
  const std::vector<double> ytest = s.group->allgather_blocks(s.test.y);
  if (root) predictor_error(ytest, sum);
  // Per-chain counters known to the group roots.
  const auto gather_roots = [&](double v) {
    const auto all = world_.allgather_blocks({v});
    std::vector<double> r(sz(C));
    for (int c = 0; c < C; ++c) r[sz(c)] = all[sz(c * s.K)];
    return r;
  };
  for (double g : gather_roots(double(s.ch->gradient_evaluations())))
    sum.chain_gradients.push_back(static_cast<std::int64_t>(g));
  sum.chain_seconds = gather_roots(s.seconds_before + s.busy);
  s.writer->summaries(sum, C, H, s.Q);
  write_headline(sum);
}

// The headline diagnostics (root's values broadcast so every rank writes the same attributes) and
// Stan's warnings. NaN propagates: a NaN R-hat or ESS is reported as NaN and warned about, never
// dropped. A chain whose every draw after warm-up diverged is an error (NumericalError).
void SampleRun::write_headline(const SampledSummaries& sum) {
  const SampleOptions& o = options_;
  State& s = *s_;
  using diagnostics::max_or_nan;
  using diagnostics::min_or_nan;
  std::vector<double> head{max_or_nan(sum.U_rhat), max_or_nan(sum.p_rhat), min_or_nan(sum.U_bulk),
                           min_or_nan(sum.U_tail), min_or_nan(sum.p_bulk), min_or_nan(sum.p_tail), sum.accuracy};
  world_.bcast(head);
  std::int64_t total_div = 0;
  for (auto x : sum.chain_divergences) total_div += x;
  std::vector<double> td{double(total_div)};
  world_.bcast(td);
  std::string joined, all_divergent;
  if (world_.is_root()) {
    for (const auto& w : diagnostics::stan_warnings({{"U1", sum.U_rhat, sum.U_bulk, sum.U_tail},
                                                     {"predictor", sum.p_rhat, sum.p_bulk, sum.p_tail}},
                                                    s.C, sum.chain_divergences, sum.chain_treedepth_hits, o.max_depth,
                                                    sum.chain_ebfmi))
      joined += (joined.empty() ? "" : "\n") + w;
    for (int c = 0; c < s.C; ++c)
      if (sum.chain_divergences[sz(c)] == o.draws)
        all_divergent += fmt::format("{}{}", all_divergent.empty() ? "" : ", ", c);
  }
  world_.bcast(joined);
  world_.bcast(all_divergent);
  if (!all_divergent.empty())
    throw NumericalError(fmt::format("sample: every draw after warm-up of chain(s) {} is a divergent transition: "
                                     "the sampler did not explore the posterior (see docs/sampling.md)",
                                     all_divergent));
  const std::vector<std::string> warnings = split_lines(joined);
  for (const auto& w : warnings) s.log.warn("diagnostics: {}", w);
  s.writer->headline({head[0], head[1], head[2], head[3], head[4], head[5], static_cast<std::int64_t>(td[0]), warnings});
  s.log.info("sampled: accuracy {:.4f}, max R-hat U1 {:.4f}, predictor {:.4f}, min bulk ESS U1 {:.0f}, divergences "
             "{}; diagnostics {}",
             head[6], head[0], head[1], head[2], total_div,
             warnings.empty() ? "passed" : fmt::format("FAILED ({} warnings)", warnings.size()));
  if (world_.is_root() && s.log.printing()) {
    const int H = s.shape.paths();
    for (int i = 0; i < H; ++i) {
      std::string row;
      for (int j = 0; j < H; ++j) row += fmt::format(" {:9.4f}", sum.U_mean[sz(i) * sz(H) + sz(j)]);
      s.log.info("  U1[{}] {}", i, row);
    }
  }
}

// 8. Provenance, descriptions and dimension scales, commit.
void SampleRun::finish() {
  State& s = *s_;
  h5::File& file = s.out->file();
  s.provenance.finish();
  write_provenance(file, s.provenance, s.timers);
  for (const auto& p : h5::annotate(file, samples_file_notes(), file.group("data").attr_strings("path_labels")))
    s.log.warn("no description for dataset {} (docs/files.md)", p);
  s.out->commit();
  s.log.info("wrote '{}' ({:.1f} s sampling)", options_.output, s.seconds_before + s.busy);
}

}  // namespace attnpaths
