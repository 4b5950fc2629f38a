// attnpaths data — generate a dataset file (io.md §1; docs/data.md).
//   attnpaths data markov --heads 4paths -o markov4.h5
//   mpirun -n 2 attnpaths data markov --heads 2paths --noise-out-of-plane 5 -o markov2.h5
// Each rank generates and writes its own block of examples; the file does not depend on the rank count.
#include <memory>
#include <string>

#include "attnpaths/core/config.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/data/markov.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "command.hpp"

namespace attnpaths::app {

namespace {

struct MarkovCommand {
  MarkovOptions options;
  std::string output;
  bool overwrite = false;
  CLI::Option* perturbation = nullptr;

  int run(const Runtime& runtime) const {
    const Comm& world = runtime.world();
    const Log log(world);
    Provenance provenance = Provenance::collect(world, runtime.app_args());
    // 1. Resolve, validate and echo the options; fail early on an unwritable output path.
    options.validate();
    ATTN_REQUIRE(!output.empty(), UsageError, "-o/--output FILE is required");
    Config config = options.to_config();
    config.set("output", output);
    config.set("overwrite", overwrite);
    config.echo(log, "attnpaths data markov: resolved options");
    if (perturbation->count() > 0 && (options.heads == "2paths" || options.heads == "good"))
      log.warn("--perturbation has no effect with --heads {} (it has no random head)", options.heads);
    const h5::OutputClaim claim = h5::OutputFile::claim(output, world, {overwrite, false, {}});
    StageTimers timers;

    // 2. Generate (each rank its own rows).
    log.info("generate: {} train + {} test + {} validation sequences, heads {}, on {} rank(s)",
             options.train_examples, options.test_examples, options.validation_examples, options.heads, world.size());
    Dataset dataset;
    {
      auto stage = timers.stage("generate");
      dataset = generate_markov(options, world);
    }
    log.info("generate: done in {:.3f} s (T = {} tokens with BOS, N0 = {}, H_tot = {} paths)",
             timers.seconds("generate"), dataset.tokens, dataset.token_dim, dataset.attention.paths());

    // 3. Write (<output>.partial, renamed when complete).
    provenance.finish();
    {
      auto stage = timers.stage("write");
      write_dataset(output, dataset, world, config, provenance, timers);
    }
    log.info("write: done in {:.3f} s", timers.seconds("write"));
    log.info("wrote dataset file {}", output);
    return 0;
  }
};

void add_data_command(CLI::App& app, CommandSet& commands) {
  CLI::App* data = app.add_subcommand("data", "Generate a dataset file (io.md §1)");
  data->require_subcommand(1);

  auto cmd = std::make_shared<MarkovCommand>();
  MarkovOptions& o = cmd->options;
  CLI::App* markov = data->add_subcommand(
      "markov",
      "Hidden-Markov-chain classification task (theory.md §5.1): sequences of T tokens v_σ + noise, "
      "a BOS token, one-hot positions; first half of every set y = +1 (stay-plus), second half y = -1 "
      "(stay-minus); hand-built \"w\" heads, readout last_token");
  // Not CLI11 required(): that check would run before an options file (--config) is read.
  markov->add_option("-o,--output", cmd->output, "Dataset file to write (HDF5) (required)");
  markov->add_flag("--overwrite", cmd->overwrite, "Replace an existing complete output file (refused otherwise)");
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
}

const Registration registration(10, add_data_command);

}  // namespace

}  // namespace attnpaths::app
