#include "attnpaths/train/train_run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <sstream>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/signals.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/io/run_record.hpp"

namespace attnpaths {

namespace {

hsize_t hs(std::int64_t n) { return static_cast<hsize_t>(n); }
bool power_of_two(int n) { return n > 0 && (n & (n - 1)) == 0; }
namespace fs = std::filesystem;

// The dataset file of docs/files.md §1 with the trained Q, K as "qk" heads and /trained/{v0, v_<l>, a};
// the input's /episodes and /embedding are copied when present.
void write_trained_dataset(const TrainOptions& o, Dataset ds, const GdShape& g, const std::vector<double>& theta,
                           const Comm& world, const Config& config, const Provenance& prov, const StageTimers& timers) {
  AttentionSpec spec;
  spec.readout = g.readout;
  spec.nonlinearity = Nonlinearity::softmax;
  for (int l = 1; l <= g.layers; ++l) {
    AttentionLayer layer;
    layer.style = AttentionStyle::qk;
    layer.heads = g.heads;
    layer.qk_dim = g.qk_dim;
    for (int h = 0; h < g.heads; ++h) {
      layer.q.insert(layer.q.end(), theta.begin() + g.q_offset(l, h), theta.begin() + g.q_offset(l, h) + g.qk_block());
      layer.k.insert(layer.k.end(), theta.begin() + g.k_offset(l, h), theta.begin() + g.k_offset(l, h) + g.qk_block());
    }
    spec.layers.push_back(std::move(layer));
  }
  spec.path_labels = spec.default_path_labels();
  ds.attention = std::move(spec);
  std::vector<std::string> copied;
  {
    const h5::File src(o.data, world, h5::File::Mode::read);
    for (const char* name : {"episodes", "embedding"})
      if (src.exists(name)) copied.emplace_back(name);
  }
  const Architecture vs = g.value_shape();
  write_dataset(o.output_data, ds, world, config, prov, timers, [&](const h5::File& file) {
    const hsize_t w = hs(g.width), H = hs(g.heads);
    auto slice = [&](std::int64_t b, std::int64_t e) { return std::vector<double>(theta.begin() + b, theta.begin() + e); };
    file.write<double>("trained/v0", {w, hs(g.input_dim)}, slice(vs.v0_offset(), vs.v0_size()));
    for (int l = 1; l <= g.layers; ++l)
      file.write<double>(fmt::format("trained/v_{}", l), {H, w, w},
                         slice(vs.layer_offset(l, 0), vs.layer_offset(l, 0) + g.heads * vs.layer_block(l)));
    file.write<double>("trained/a", {w}, slice(vs.readout_offset(), vs.size()));
    file.group("trained").set_attr("convention",
                                   "f = a·mean_t z^L_t, z^l_t = H^-1/2 Σ_h v_l[h] Σ_s z^{l-1}_s Ω^{l,h}_st, z^0_s = v0 x_s "
                                   "(no 1/sqrt(width) factors; docs/training.md)");
    for (const auto& name : copied) file.copy_from(o.data, name);
  });
}

// One validation: history row, best weights, plateau counter.
template <class Real>
Evaluation validate_step(GdNetwork<Real>& net, const Trainer<Real>& trainer, const ExampleSet& set, const Comm& world,
                         TrainProgress& p) {
  const Evaluation e = evaluate(net, trainer.theta().data(), set, world);
  p.history.step.push_back(trainer.steps());
  p.history.train_loss.push_back(p.loss_count > 0 ? p.loss_sum / double(p.loss_count) : std::nan(""));
  p.history.validation_loss.push_back(e.loss);
  p.history.validation_accuracy.push_back(e.accuracy);
  p.loss_sum = 0;
  p.loss_count = 0;
  if (e.accuracy > p.best_accuracy) {
    p.best_accuracy = e.accuracy;
    p.best_loss = e.loss;
    p.best_step = trainer.steps();
    p.best_theta.assign(trainer.theta().begin(), trainer.theta().end());
    p.stale = 0;
  } else {
    ++p.stale;
  }
  return e;
}

// One training invocation, stage by stage (train_run.hpp).
template <class Real>
class TrainSession {
 public:
  TrainSession(const TrainOptions& o, const Comm& world, const std::vector<std::string>& command_line)
      : o_(o), world_(world), log_(world, o.quiet), prov_(Provenance::collect(world, command_line)),
        partial_(h5::OutputFile::partial_path(o.output)) {
    for (const std::string& out : {o.output, o.output_data})
      ATTN_REQUIRE(out.empty() || o.overwrite || !fs::exists(out), InputError,
                   "train: '{}' exists; remove it or pass --overwrite", out);
    ATTN_REQUIRE(o.reduction_blocks >= world.size(), InputError,
                 "train: {} ranks but --reduction-blocks {}: use at most that many ranks (or more blocks)",
                 world.size(), o.reduction_blocks);
  }

  void load() {
    auto t = timers_.stage("load data");
    ds_ = read_dataset(o_.data, world_);
    ATTN_REQUIRE(ds_.validation.has_value(), InputError, "train: '{}' has no /validation set (needed for validation)",
                 o_.data);
    if (o_.stream == "bank")
      stream_ = make_bank_stream(o_.data, o_.seed, world_);
    else
      stream_ = std::make_unique<SyntheticStream>(ds_.tokens, ds_.token_dim, o_.seed);
    shape_ = o_.shape;
    shape_.tokens = stream_->tokens();
    shape_.input_dim = stream_->token_dim();
    ATTN_REQUIRE(shape_.tokens == ds_.tokens && shape_.input_dim == ds_.token_dim, InputError,
                 "train: the episode stream gives {} × {} tokens but '{}' holds {} × {}", shape_.tokens,
                 shape_.input_dim, o_.data, ds_.tokens, ds_.token_dim);
    shape_.validate();
  }

  void start() {
    trainer_ = std::make_unique<Trainer<Real>>(shape_, o_.adam, o_.batch, o_.reduction_blocks, world_);
    net_ = std::make_unique<GdNetwork<Real>>(shape_);
    fingerprint_ = o_.fingerprint(ds_.checksum);
    config_ = o_.to_config();
    config_.set("data_path", fs::absolute(o_.data).string());
    config_.set("data_checksum", ds_.checksum);
    config_.set("stream_description", stream_->describe());
    config_.set("parameters", static_cast<long>(shape_.size()));
    config_.set("mpi_ranks", world_.size());
    config_.echo(log_, "attnpaths train");
    if (o_.resume && fs::exists(partial_)) {
      p_ = read_checkpoint(partial_, world_, shape_, fingerprint_);
      log_.info("resumed from '{}' at step {}", partial_, p_.state.step);
    } else {
      if (o_.resume) log_.warn("--resume: '{}' does not exist, starting a new run", partial_);
      p_.state.theta = initial_weights(shape_, o_.seed);
      p_.state.adam_m.assign(p_.state.theta.size(), 0.0);
      p_.state.adam_v.assign(p_.state.theta.size(), 0.0);
    }
    trainer_->set_state(p_.state);
    log_.info("network: T = {}, N0 = {}, width {}, G = {}, {} heads × {} layers ({} paths), {} parameters, {}; "
              "batch {} over {} ranks; stream: {}",
              shape_.tokens, shape_.input_dim, shape_.width, shape_.qk_dim, shape_.heads, shape_.layers,
              shape_.paths(), shape_.size(), o_.precision, o_.batch, world_.size(), stream_->describe());
  }

  void run_steps() {
    start_ = last_line_ = wall_seconds();
    first_step_ = trainer_->steps();
    bool plateau = p_.stop_reason == "plateau";
    while (trainer_->steps() < o_.steps && !plateau) {
      {
        auto t = timers_.stage("train");
        const double loss = trainer_->step(*stream_);
        p_.loss_sum += loss;
        ++p_.loss_count;
        line_loss_ += loss;
        ++line_steps_;
      }
      ++done_here_;
      const std::int64_t s = trainer_->steps();
      if (s % o_.validate_every == 0 || s == o_.steps) plateau = validate(s);
      progress(s);
      if (o_.interrupt_after >= 0 && done_here_ >= o_.interrupt_after) request_stop();
      if (world_.any(stop_requested())) {
        checkpoint(false, partial_);
        throw Interrupted(fmt::format("train: stopped by a signal at step {}; checkpoint written to '{}'. Continue "
                                      "with the same options plus --resume.",
                                      s, partial_));
      }
      if (s % o_.checkpoint_every == 0 && s < o_.steps && !plateau) checkpoint(false, partial_);
    }
    p_.stop_reason = plateau ? "plateau" : "steps";
    log_.info("stopped after {} steps ({}; {} this run in {:.1f} s); best validation accuracy {:.4f} at step {}",
              trainer_->steps(), p_.stop_reason, trainer_->steps() - first_step_, wall_seconds() - start_,
              p_.best_accuracy, p_.best_step);
  }

  void finish() {
    {
      auto t = timers_.stage("evaluate");
      const AlignedVector<Real> best(p_.best_theta.begin(), p_.best_theta.end());
      std::vector<const ExampleSet*> sets = {&ds_.test};
      for (const auto& set : ds_.ood) sets.push_back(&set);
      for (const ExampleSet* set : sets) {
        p_.evaluations.push_back(evaluate(*net_, best.data(), *set, world_));
        log_.info("best weights on {}: accuracy {:.4f}, loss {:.4f} ({} episodes)", set->name,
                  p_.evaluations.back().accuracy, p_.evaluations.back().loss, p_.evaluations.back().count);
      }
    }
    checkpoint(true, o_.output);
    if (world_.is_root()) fs::remove(partial_);
    log_.info("wrote '{}'", o_.output);
    if (!o_.output_data.empty()) {
      auto t = timers_.stage("write dataset");
      write_trained_dataset(o_, std::move(ds_), shape_, p_.best_theta, world_, config_, prov_, timers_);
      log_.info("wrote '{}' (trained attention as qk heads; `attnpaths theory --data {}`)", o_.output_data,
                o_.output_data);
    }
  }

 private:
  // Validation at step s; returns true when the plateau rule stops the run.
  bool validate(std::int64_t s) {
    auto t = timers_.stage("validate");
    const Evaluation e = validate_step(*net_, *trainer_, *ds_.validation, world_, p_);
    log_.info("step {}: validation accuracy {:.4f}, loss {:.4f} (best {:.4f} at step {}); train loss {:.4f}", s,
              e.accuracy, e.loss, p_.best_accuracy, p_.best_step, p_.history.train_loss.back());
    return o_.patience > 0 && p_.stale >= o_.patience;
  }

  // Rank-0 progress line: steps/s, episodes/s, the mean loss since the last line, ETA.
  void progress(std::int64_t s) {
    const double now = wall_seconds();
    if (!log_.printing() || (now - last_line_ < o_.progress_seconds && s != o_.steps)) return;
    const double rate = double(done_here_) / (now - start_);
    log_.info("step {}/{}: {:.2f} steps/s ({:.0f} episodes/s), loss {:.4f}, elapsed {:.0f} s, ETA {:.0f} s", s,
              o_.steps, rate, rate * o_.batch, line_loss_ / double(line_steps_), now - start_,
              double(o_.steps - s) / rate);
    last_line_ = now;
    line_loss_ = 0;
    line_steps_ = 0;
  }

  void checkpoint(bool complete, const std::string& path) {
    auto t = timers_.stage("checkpoint");
    p_.state = trainer_->state();
    prov_.finish();
    write_model_file(path, world_, shape_, o_.precision, p_, fingerprint_, complete, config_, prov_, timers_);
  }

  const TrainOptions& o_;
  const Comm& world_;
  StageTimers timers_;
  Log log_;
  Provenance prov_;
  StopSignals signals_;
  std::string partial_, fingerprint_;
  Dataset ds_;
  std::unique_ptr<EpisodeStream> stream_;
  GdShape shape_;
  Config config_;
  std::unique_ptr<Trainer<Real>> trainer_;
  std::unique_ptr<GdNetwork<Real>> net_;
  TrainProgress p_;
  double start_ = 0, last_line_ = 0, line_loss_ = 0;
  std::int64_t first_step_ = 0, done_here_ = 0, line_steps_ = 0;
};

}  // namespace

// ------------------------------------------------------------------------------------------ options

void TrainOptions::validate() const {
  ATTN_REQUIRE(!data.empty(), UsageError, "train: --data is required");
  if (!evaluate.empty()) return;
  ATTN_REQUIRE(!output.empty(), UsageError, "train: -o/--output is required");
  ATTN_REQUIRE(stream == "bank" || stream == "synthetic", InputError,
               "train: --stream must be \"bank\" or \"synthetic\" (got \"{}\")", stream);
  ATTN_REQUIRE(precision == "float32" || precision == "float64", InputError,
               "train: --precision must be float32 or float64 (got \"{}\")", precision);
  ATTN_REQUIRE(batch >= 1, InputError, "train: --batch must be positive (got {})", batch);
  ATTN_REQUIRE(steps >= 1, InputError, "train: --steps must be positive (got {})", steps);
  ATTN_REQUIRE(validate_every >= 1, InputError, "train: --validate-every must be positive (got {})", validate_every);
  ATTN_REQUIRE(patience >= 0, InputError, "train: --patience must be >= 0 (got {})", patience);
  ATTN_REQUIRE(checkpoint_every >= 1, InputError, "train: --checkpoint-every must be positive (got {})",
               checkpoint_every);
  ATTN_REQUIRE(adam.lr > 0 && adam.eps > 0 && adam.weight_decay >= 0 && adam.beta1 >= 0 && adam.beta1 < 1 &&
                   adam.beta2 >= 0 && adam.beta2 < 1,
               InputError, "train: Adam needs --lr > 0, --eps > 0, --weight-decay >= 0 and betas in [0, 1)");
  ATTN_REQUIRE(power_of_two(reduction_blocks), InputError,
               "train: --reduction-blocks must be a power of two (got {})", reduction_blocks);
}

Config TrainOptions::to_config() const {
  Config c;
  c.set("data", data);
  c.set("output", output);
  c.set("output_data", output_data);
  c.set("stream", stream);
  c.set("precision", precision);
  c.set("width", shape.width);
  c.set("qk_dim", shape.qk_dim);
  c.set("heads", shape.heads);
  c.set("layers", shape.layers);
  c.set("readout", to_string(shape.readout));
  c.set("batch", batch);
  c.set("lr", adam.lr);
  c.set("beta1", adam.beta1);
  c.set("beta2", adam.beta2);
  c.set("eps", adam.eps);
  c.set("weight_decay", adam.weight_decay);
  c.set("steps", static_cast<long>(steps));
  c.set("validate_every", static_cast<long>(validate_every));
  c.set("patience", static_cast<long>(patience));
  c.set("checkpoint_every", static_cast<long>(checkpoint_every));
  c.set("seed", static_cast<long>(seed));
  c.set("reduction_blocks", reduction_blocks);
  c.set("resume", resume);
  c.set("loss", "mean squared error (mean over the batch), targets ±1");
  c.set("optimizer", "Adam as torch.optim.Adam: coupled weight decay added to the gradient, bias-corrected moments");
  c.set("init", "U(-1/sqrt(fan_in), 1/sqrt(fan_in)) per matrix, Philox stream (seed, training_init = 30, block)");
  c.set("episodes", "episode i of step s is stream index s*batch + i (bank: EpisodeSampler(seed, stream 0))");
  return c;
}

std::string TrainOptions::fingerprint(const std::string& data_checksum) const {
  return fmt::format(
      "data_checksum={};stream={};precision={};width={};qk_dim={};heads={};layers={};readout={};batch={};lr={:.17g};"
      "beta1={:.17g};beta2={:.17g};eps={:.17g};weight_decay={:.17g};seed={};reduction_blocks={};validate_every={}",
      data_checksum, stream, precision, shape.width, shape.qk_dim, shape.heads, shape.layers, to_string(shape.readout),
      batch, adam.lr, adam.beta1, adam.beta2, adam.eps, adam.weight_decay, seed, reduction_blocks, validate_every);
}

std::vector<HeadRef> parse_heads(const std::string& text) {
  std::vector<HeadRef> heads;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    int l = 0, h = 0;
    char colon = 0, rest = 0;
    std::stringstream one(item);
    ATTN_REQUIRE((one >> l >> colon >> h) && colon == ':' && !(one >> rest), InputError,
                 "--remove-heads: '{}' is not layer:head (e.g. 1:0,2:3)", item);
    heads.emplace_back(l, h);
  }
  return heads;
}

// ------------------------------------------------------------------------------------------ run

TrainRun::TrainRun(TrainOptions options, const Comm& world, std::vector<std::string> command_line)
    : options_(std::move(options)), world_(world), command_line_(std::move(command_line)) {}

int TrainRun::run() {
  options_.validate();
  options_.shape.readout = parse_readout(options_.readout, "train: --readout");
  if (!options_.evaluate.empty()) return evaluate();
  return options_.precision == "float64" ? train<double>() : train<float>();
}

template <class Real>
int TrainRun::train() {
  TrainSession<Real> session(options_, world_, command_line_);
  session.load();         // 1. dataset (validation set) and the training episode stream
  session.start();        // 2. network, Adam, the starting state (fresh or <output>.partial)
  session.run_steps();    // 3. Adam steps, validation, progress, checkpoints, signals
  session.finish();       // 4. best weights on test/OOD, model file, dataset file
  return 0;
}

int TrainRun::evaluate() {
  const TrainOptions& o = options_;
  Log log(world_, o.quiet);
  const GdModel model = read_model(o.evaluate, world_);
  const Dataset ds = read_dataset(o.data, world_);
  const std::vector<HeadRef> removed = parse_heads(o.remove_heads);
  std::vector<const ExampleSet*> sets;
  for (const ExampleSet* set : ds.evaluation_sets())
    if (o.sets.empty() || std::find(o.sets.begin(), o.sets.end(), set->name) != o.sets.end()) sets.push_back(set);
  for (const auto& name : o.sets) {
    bool found = false;
    for (const ExampleSet* set : sets) found = found || set->name == name;
    ATTN_REQUIRE(found, InputError, "train --evaluate: '{}' has no set '{}' (sets: test, validation, ood/<name>)",
                 o.data, name);
  }
  log.info("model '{}' ({} parameters, {}), heads removed: {}", o.evaluate, model.shape.size(), model.precision,
           o.remove_heads.empty() ? "none" : o.remove_heads);
  for (const ExampleSet* set : sets) {
    const Evaluation e = evaluate_model(model, *set, world_, removed);
    log.info("{}: accuracy {:.4f}, loss {:.6f}, episodes {}", e.set, e.accuracy, e.loss, e.count);
  }
  return 0;
}

}  // namespace attnpaths
