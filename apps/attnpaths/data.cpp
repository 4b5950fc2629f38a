// attnpaths data — generate a dataset file (docs/files.md §1; docs/data.md).
//   attnpaths data markov --heads 4paths -o markov4.h5
//   mpirun -n 2 attnpaths data markov --heads 2paths --noise-out-of-plane 5 -o markov2.h5
//   attnpaths data omniglot -o omniglot.h5
// Each rank generates and writes its own block of examples; the file does not depend on the rank count.
#include <cmath>
#include <functional>
#include <memory>
#include <string>

#include "attnpaths/core/config.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/data/markov.hpp"
#include "attnpaths/data/omniglot.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "command.hpp"

namespace attnpaths::app {

namespace {

// The stages every `data` subcommand shares, after its options are validated: echo the resolved
// options, fail early on an unwritable output path, generate (each rank its own rows; `generate`
// returns the summary logged after its time), write (<output>.partial, renamed when complete). `write`
// finishes the provenance and times its own stages ("generate" too when it generates while writing).
int run_data_stages(const Runtime& runtime, const std::string& task, Config config, const std::string& output,
                    bool overwrite, const std::function<std::string()>& generate,
                    const std::function<void(const Config&, Provenance&, StageTimers&)>& write) {
  const Comm& world = runtime.world();
  const Log log(world);
  Provenance provenance = Provenance::collect(world, runtime.app_args());
  ATTN_REQUIRE(!output.empty(), UsageError, "-o/--output FILE is required");
  config.set("output", output);
  config.set("overwrite", overwrite);
  config.echo(log, fmt::format("attnpaths data {}: resolved options", task));
  const h5::OutputClaim claim = h5::OutputFile::claim(output, world, {overwrite, false, {}});
  StageTimers timers;
  std::string summary;
  {
    auto stage = timers.stage("generate");
    summary = generate();
  }
  log.info("generate: done in {:.3f} s ({})", timers.seconds("generate"), summary);
  write(config, provenance, timers);
  log.info("write: done in {:.3f} s (generate in total {:.3f} s)", timers.seconds("write"), timers.seconds("generate"));
  log.info("wrote dataset file {}", output);
  return 0;
}

struct MarkovCommand {
  MarkovOptions options;
  std::string output;
  bool overwrite = false;
  double block_mb = 256;
  std::string dtype = "float64";
  CLI::Option* perturbation = nullptr;

  int run(const Runtime& runtime) const {
    const Comm& world = runtime.world();
    const Log log(world);
    options.validate();
    ATTN_REQUIRE(block_mb > 0 && std::isfinite(block_mb), InputError, "--block-size must be positive (got {} MiB)",
                 block_mb);
    ATTN_REQUIRE(dtype == "float64" || dtype == "float32", InputError,
                 "--dtype must be float64 or float32 (got '{}')", dtype);
    if (perturbation->count() > 0 && (options.heads == "2paths" || options.heads == "good"))
      log.warn("--perturbation has no effect with --heads {} (it has no random head)", options.heads);
    Config config = options.to_config();
    config.set("dtype", dtype);
    config.set("block_size", block_mb);
    Dataset header;
    return run_data_stages(
        runtime, "markov", config, output, overwrite,
        [&] {
          header = markov_header(options, world);
          log.info("generate and write: {} train + {} test + {} validation sequences, heads {}, on {} rank(s), in "
                   "blocks of {} examples per rank, x as {}",
                   options.train_examples, options.test_examples, options.validation_examples, options.heads,
                   world.size(), block_examples_for(block_mb, header.tokens, header.token_dim), dtype);
          return fmt::format("T = {} tokens with BOS, N0 = {}, H_tot = {} paths", header.tokens, header.token_dim,
                             header.attention.paths());
        },
        [&](const Config& c, Provenance& provenance, StageTimers& timers) {
          const StreamedWrite how{block_examples_for(block_mb, header.tokens, header.token_dim), dtype == "float32",
                                  std::nullopt};  // written behind the generation when the rank's cores allow
          const RowSource fill = [&](const ExampleSet& set, const Range& rows, double* x, double* y) {
            markov_rows(options, set, rows, x, y);
          };
          write_dataset_streamed(output, header, fill, how, world, c, provenance, timers);
        });
  }
};

// The in-repo copies of the Omniglot and MNIST files (the source tree's data/, baked in at configure time).
std::string data_file(const std::string& relative) { return std::string(ATTNPATHS_DATA_DIR) + "/" + relative; }

struct OmniglotCommand {
  OmniglotOptions options;
  std::string output;
  bool overwrite = false;

  int run(const Runtime& runtime) const {
    const Comm& world = runtime.world();
    const Log log(world);
    options.validate();
    OmniglotData data;
    return run_data_stages(
        runtime, "omniglot", options.to_config(), output, overwrite,
        [&] {
          log.info("generate: {} train + {} validation + {} test + {} {} episodes on {} rank(s)",
                   options.train_examples, options.validation_examples, options.test_examples, options.ood_examples,
                   options.ood_name, world.size());
          data = generate_omniglot(options, world);
          return fmt::format("training bank: {} images of {} classes; T = {}, N0 = {}", data.train_bank.size(),
                             data.train_bank.classes, data.dataset.tokens, data.dataset.token_dim);
        },
        [&](const Config& config, Provenance& provenance, StageTimers& timers) {
          provenance.finish();
          auto stage = timers.stage("write");
          write_omniglot(output, data, world, config, provenance, timers);
        });
  }
};

void add_omniglot_command(CLI::App* data, CommandSet& commands) {
  auto cmd = std::make_shared<OmniglotCommand>();
  OmniglotOptions& o = cmd->options;
  o.background = {data_file("omniglot/images_background_small1.zip"), data_file("omniglot/images_background_small2.zip")};
  o.evaluation = {data_file("omniglot/all_runs.zip")};
  o.ood_images = data_file("mnist/t10k-images-idx3-ubyte.gz");
  o.ood_labels = data_file("mnist/t10k-labels-idx1-ubyte.gz");
  CLI::App* sub = data->add_subcommand(
      "omniglot",
      "One-shot image classification episodes (2-way, 1-shot, 1 query; T = 48 tokens of N0 = 192): Omniglot "
      "training/validation/test sets, an MNIST out-of-distribution set, the training image bank (for `train`), the "
      "embedding, and placeholder random \"qk\" heads (readout mean). Defaults read the copies in the source tree's "
      "data/ folder");
  add_output_options(sub, cmd->output, cmd->overwrite, "Dataset file to write (HDF5) (required)");
  sub->add_option("--background", o.background,
                  "Zips of <top>/<alphabet>/<character>/<image>.png (105x105 1-bit PNGs); an image path present in "
                  "several zips counts once; training = all their characters minus --validation-alphabets")
      ->delimiter(',')->capture_default_str();
  sub->add_option("--evaluation", o.evaluation,
                  "Zips of the test classes: one-shot runs (runNN/class_labels.txt pairs two drawings of a class) or "
                  "the --background layout (e.g. images_evaluation.zip)")
      ->delimiter(',')->capture_default_str();
  sub->add_option("--validation-alphabets", o.validation_alphabets,
                  "Alphabets of the --background zips held out as the validation classes")
      ->delimiter(',')->capture_default_str();
  sub->add_option("--ood-images", o.ood_images, "IDX image file (gzip'd or not) of the out-of-distribution set")
      ->capture_default_str();
  sub->add_option("--ood-labels", o.ood_labels, "IDX label file matching --ood-images")->capture_default_str();
  sub->add_option("--ood-name", o.ood_name, "Name of the OOD set: /ood/NAME")->capture_default_str();
  sub->add_option("--ood-classes", o.ood_classes,
                  "The two IDX classes of the OOD episodes: support label 0 (y = -1), support label 1 (y = +1)")
      ->delimiter(',')->capture_default_str();
  sub->add_option("-P,--train-examples", o.train_examples, "Training episodes P (even; balanced)")
      ->capture_default_str();
  sub->add_option("--validation-examples", o.validation_examples, "Validation episodes (even; 0 = no /validation)")
      ->capture_default_str();
  sub->add_option("-Q,--test-examples", o.test_examples, "Test episodes Q (even; balanced)")->capture_default_str();
  sub->add_option("--ood-examples", o.ood_examples, "OOD episodes (even; 0 = no OOD set)")->capture_default_str();
  sub->add_option("--normalisation", o.normalisation, "MEAN,STD of the Omniglot grey values (after /255)")
      ->delimiter(',')->capture_default_str();
  sub->add_option("--ood-normalisation", o.ood_normalisation, "MEAN,STD of the OOD grey values (after /255)")
      ->delimiter(',')->capture_default_str();
  sub->add_option("--seed", o.seed, "Episode seed (classes, drawings, label permutations, queries)")
      ->capture_default_str();
  sub->add_option("--embedding-seed", o.embedding_seed, "Seed of the label vectors e_0, e_1, e_2 ~ N(0, 1)")
      ->capture_default_str();
  sub->add_option("--attention-seed", o.attention_seed, "Seed of the placeholder qk heads")->capture_default_str();
  sub->add_option("--heads", o.heads, "Placeholder heads per layer (comma-separated; L = number of entries)")
      ->delimiter(',')->capture_default_str();
  sub->add_option("--qk-dim", o.qk_dim, "G of the placeholder heads (Q, K in R^{G x 192})")->capture_default_str();
  const Runtime& runtime = commands.runtime;
  on_selected(sub, commands, [cmd, &runtime] { return cmd->run(runtime); });
}

void add_data_command(CLI::App& app, CommandSet& commands) {
  CLI::App* data = app.add_subcommand("data", "Generate a dataset file (docs/files.md §1)");
  data->require_subcommand(1);

  auto cmd = std::make_shared<MarkovCommand>();
  MarkovOptions& o = cmd->options;
  CLI::App* markov = data->add_subcommand(
      "markov",
      "Hidden-Markov-chain classification task (docs/model.md §5.1): sequences of T tokens v_σ + noise, "
      "a BOS token, one-hot positions; first half of every set y = +1 (stay-plus), second half y = -1 "
      "(stay-minus); hand-built \"w\" heads, readout last_token");
  // Not CLI11 required(): that check would run before an options file (--config) is read.
  add_output_options(markov, cmd->output, cmd->overwrite, "Dataset file to write (HDF5) (required)");
  markov
      ->add_option("--heads", o.heads,
                   "Head set (layer 1 | layer 2 -> paths): 4paths [good, random p] | [uniform, random p] -> g,a1,d,a2; "
                   "2paths [good, blank p=0] | [uniform] -> g,d; good [good] | [uniform] -> g; "
                   "good+denoising [good, random p] | [uniform] -> g,d")
      ->capture_default_str();
  markov->add_option("-P,--train-examples", o.train_examples, "Training examples P (even)")->check(whole(whole_max64))->capture_default_str();
  markov->add_option("-Q,--test-examples", o.test_examples, "Test examples Q (even)")->check(whole(whole_max64))->capture_default_str();
  markov->add_option("--validation-examples", o.validation_examples, "Validation examples (even; 0 = no validation set)")
      ->check(whole(whole_max64))
      ->capture_default_str();
  markov->add_option("-T,--tokens", o.tokens, "Tokens per sequence, without BOS")->check(whole())->capture_default_str();
  markov->add_option("--feature-dim", o.feature_dim, "Dimension of the class vectors v± (even); N0 = feature-dim + T + 1")
      ->check(whole())
      ->capture_default_str();
  markov->add_option("--stay-plus", o.stay_plus, "Stay probability of the y = +1 class, in [0, 1]")
      ->capture_default_str();
  markov->add_option("--stay-minus", o.stay_minus, "Stay probability of the y = -1 class, in [0, 1]")
      ->capture_default_str();
  markov->add_option("--noise-parallel", o.noise_parallel, "Noise strength s_par along e_par ∝ v+ + v- (>= 0)")
      ->capture_default_str();
  markov->add_option("--noise-perpendicular", o.noise_perpendicular, "Noise strength s_perp along e_perp ∝ v+ - v- (>= 0)")
      ->capture_default_str();
  markov
      ->add_option("--noise-out-of-plane", o.noise_out_of_plane,
                   "Noise strength s_oop out of the (v+, v-) plane (>= 0; the \"noisier\" task uses 5)")
      ->capture_default_str();
  markov->add_option("--dtype", cmd->dtype, "Storage type of x: float64 or float32 (halves the file; y stays float64; "
                     "the theory computes in float64)")
      ->capture_default_str();
  markov->add_option("--block-size", cmd->block_mb,
                     "MiB of examples (as float64) generated and written at a time per rank; a rank with 2 or more "
                     "cores to itself writes each block while it generates the next (two blocks in memory); the file "
                     "does not depend on it nor on the rank count")
      ->capture_default_str();
  markov->add_option("--beta", o.beta, "Inverse temperature β multiplying every head's W")->capture_default_str();
  cmd->perturbation =
      markov->add_option("--perturbation", o.perturbation, "Strength p of the random heads (4paths, good+denoising; >= 0)")
          ->capture_default_str();
  markov->add_option("--seed", o.seed, "Data seed (Markov chains and noise; >= 0)")->check(whole(whole_max64))->capture_default_str();
  markov
      ->add_option("--head-seeds-layer1", o.head_seeds_layer1,
                   "Seeds of the two layer-1 head slots (comma-separated; only random heads use theirs)")
      ->delimiter(',')
      ->check(whole(whole_max64))
      ->capture_default_str();
  markov
      ->add_option("--head-seeds-layer2", o.head_seeds_layer2,
                   "Seeds of the two layer-2 head slots (comma-separated; only random heads use theirs)")
      ->delimiter(',')
      ->check(whole(whole_max64))
      ->capture_default_str();
  const Runtime& runtime = commands.runtime;
  on_selected(markov, commands, [cmd, &runtime] { return cmd->run(runtime); });
  add_omniglot_command(data, commands);
}

const Registration registration(10, add_data_command);

}  // namespace

}  // namespace attnpaths::app
