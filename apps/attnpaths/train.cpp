// attnpaths train — gradient-descent training of the network with learned Q, K (docs/training.md).
//   OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 attnpaths train --data omniglot.h5 -o model.h5 --output-data trained.h5
//   mpirun -n 2 attnpaths train --data omniglot.h5 -o model.h5 --output-data trained.h5   (batch sharded over ranks)
//   attnpaths train ... --resume                                  (continue <output>.partial after exit 75)
//   attnpaths train --evaluate model.h5 --data omniglot.h5 --set test --remove-heads 1:0,2:3
// SIGTERM / SIGUSR1: the current step finishes, a checkpoint is written, exit code 75.
#include <memory>
#include <string>

#include "attnpaths/train/train_run.hpp"
#include "command.hpp"

namespace attnpaths::app {

namespace {

void add_options(CLI::App* sub, TrainOptions& o) {
  sub->add_option("--data", o.data,
                  "Dataset file: its /validation set is validated on, /test and /ood/* are evaluated at the end, and "
                  "(--stream bank) its /bank/train image bank supplies the training episodes (required)");
  sub->add_option("-o,--output", o.output, "Model file to write (HDF5, format attnpaths-model; <file>.partial holds "
                                           "checkpoints) (required unless --evaluate)");
  sub->add_option("--output-data", o.output_data,
                  "Also write a dataset file: the input's sets with the trained Q, K as the attention (qk heads) and "
                  "/trained/{v0, v_<l>, a}; `attnpaths theory --data` reads it");
  sub->add_option("--stream", o.stream,
                  "Training episodes: bank = drawn on the fly from /bank/train; synthetic = N(0,1) tokens with "
                  "y = sign(sum of feature 0) (tests and benchmarks)")->capture_default_str();
  sub->add_option("--precision", o.precision, "float32 or float64 arithmetic (output files are always float64)")
      ->capture_default_str();
  sub->add_option("--width", o.shape.width, "Width w of V0 and of every value matrix")->capture_default_str();
  sub->add_option("--qk-dim", o.shape.qk_dim, "Query/key dimension G")->capture_default_str();
  sub->add_option("--heads", o.shape.heads, "Heads H per layer")->capture_default_str();
  sub->add_option("--layers", o.shape.layers, "Attention layers L")->capture_default_str();
  sub->add_option("--readout", o.readout,
                  "How the last layer's tokens are pooled before the readout a: mean (the image task), last_token, "
                  "first_token")->capture_default_str();
  sub->add_option("--batch", o.batch, "Episodes per step (sharded over the MPI ranks)")->capture_default_str();
  sub->add_option("--lr", o.adam.lr, "Adam learning rate")->capture_default_str();
  sub->add_option("--beta1", o.adam.beta1, "Adam β1")->capture_default_str();
  sub->add_option("--beta2", o.adam.beta2, "Adam β2")->capture_default_str();
  sub->add_option("--eps", o.adam.eps, "Adam ε")->capture_default_str();
  sub->add_option("--weight-decay", o.adam.weight_decay, "L2 weight decay added to the gradient (as torch.optim.Adam)")
      ->capture_default_str();
  sub->add_option("--steps", o.steps, "Step budget (Adam steps); the run stops earlier on a validation plateau")
      ->capture_default_str();
  sub->add_option("--validate-every", o.validate_every, "Steps between validations (and at the last step)")
      ->capture_default_str();
  sub->add_option("--patience", o.patience,
                  "Stop after this many validations without a better validation accuracy (0 = never)")
      ->capture_default_str();
  sub->add_option("--checkpoint-every", o.checkpoint_every, "Steps between checkpoints to <output>.partial")
      ->capture_default_str();
  sub->add_option("--seed", o.seed, "Seed of the initial weights and of the episode stream")->capture_default_str();
  sub->add_option("--reduction-blocks", o.reduction_blocks,
                  "Fixed example blocks of the gradient sum (power of two ≥ ranks); the weights do not depend on the "
                  "rank count beyond round-off")->capture_default_str();
  sub->add_option("--progress-seconds", o.progress_seconds, "Seconds between progress lines")->capture_default_str();
  sub->add_flag("--resume", o.resume, "Continue from <output>.partial (options and data must match)");
  sub->add_flag("--overwrite", o.overwrite, "Replace existing output files");
  sub->add_flag("--quiet,-q", o.quiet, "No progress output");
  sub->add_option("--interrupt-after", o.interrupt_after,
                  "Testing: act as if SIGTERM arrived after this many steps of this invocation")
      ->group("");  // hidden
  sub->add_option("--evaluate", o.evaluate,
                  "Evaluation mode: report accuracy and loss of this model file's (best) weights on --data's sets");
  sub->add_option("--set", o.sets, "Evaluation mode: sets to evaluate (test, validation, ood/<name>; default all)")
      ->delimiter(',');
  sub->add_option("--remove-heads", o.remove_heads,
                  "Evaluation mode: heads to remove, layer:head with layers from 1 and heads from 0 (e.g. 1:0,2:3); the "
                  "layer's head sum is rescaled by (H - removed)^-1/2; never all heads of a layer");
}

void add_train_command(CLI::App& app, CommandSet& commands) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* sub = app.add_subcommand(
      "train",
      "Train the attention network (learned Q, K; V0, values, readout) by gradient descent with Adam on episodes "
      "drawn on the fly; data-parallel over MPI ranks. Writes a model file and (--output-data) a dataset file whose "
      "attention is the trained Q, K. --evaluate MODEL reports accuracy with heads optionally removed. "
      "SIGTERM/SIGUSR1 checkpoint and exit 75; continue with --resume.");
  add_options(sub, *o);
  on_selected(sub, commands, [o, &commands]() -> int {
    const Runtime& runtime = commands.runtime;
    return run_interruptible(runtime, [&] { return TrainRun(*o, runtime.world(), runtime.app_args()).run(); });
  });
}

const Registration registration(35, add_train_command);

}  // namespace

}  // namespace attnpaths::app
