// `attnpaths train`: gradient-descent training of the network with learned Q, K (docs/training.md).
// One object per run; run() reads as the pipeline:
//   load dataset (validation set) → episode stream → network + Adam (or resume) → steps
//   {batch sharded over ranks, fixed-order reduction, Adam; validate; checkpoint} → model file →
//   dataset file with the trained attention → evaluation of the best weights on test / OOD sets.
// evaluate() is the `--evaluate MODEL` mode.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/config.hpp"
#include "attnpaths/train/model_file.hpp"

namespace attnpaths {

struct TrainOptions {
  std::string data;          // dataset file: /validation (required), /bank/train for the bank stream
  std::string output;        // model file
  std::string output_data;   // dataset file with the trained attention (optional)
  std::string stream = "bank";       // "bank" | "synthetic"
  std::string precision = "float32";  // "float32" | "float64"
  GdShape shape;             // tokens/input_dim come from the data
  std::string readout = "mean";       // "mean" | "last_token" | "first_token" (sets shape.readout)
  int batch = 128;
  AdamOptions adam;
  std::int64_t steps = 4000;
  std::int64_t validate_every = 250;
  std::int64_t patience = 8;         // validations without improvement before stopping (0 = never)
  std::int64_t checkpoint_every = 1000;
  std::uint64_t seed = 1;
  int reduction_blocks = 16;
  double progress_seconds = 10;
  bool resume = false, overwrite = false, quiet = false;
  std::int64_t interrupt_after = -1;  // testing: behave as if SIGTERM arrived after this many steps
  // --evaluate
  std::string evaluate;                 // model file
  std::vector<std::string> sets;        // "test", "validation", "ood/<name>"; empty = all
  std::string remove_heads;             // "l:h,l:h"

  void validate() const;
  Config to_config() const;
  std::string fingerprint(const std::string& data_checksum) const;
};

// "1:0,2:3" → heads (layer 1-based, head 0-based); InputError naming --remove-heads otherwise.
std::vector<HeadRef> parse_heads(const std::string& text);

class TrainRun {
 public:
  TrainRun(TrainOptions options, const Comm& world, std::vector<std::string> command_line);
  // Returns 0; throws Interrupted (exit 75) after checkpointing on SIGTERM / SIGUSR1.
  int run();
  // The --evaluate mode: prints accuracy and loss of the model on each requested set.
  int evaluate();

 private:
  template <class Real>
  int train();
  TrainOptions options_;
  const Comm& world_;
  std::vector<std::string> command_line_;
};

}  // namespace attnpaths
