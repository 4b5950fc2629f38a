// Model files of `attnpaths train` (format "attnpaths-model", docs/training.md "Files"):
//
//   root attrs      format = "attnpaths-model", version = 1, complete (0 = checkpoint, 1 = finished)
//   /network        attrs tokens, input_dim, width, qk_dim, heads, layers, readout, precision, parameters
//   /weights/{v0 [w, N0], v [L, H, w, w], q [L, H, G, N0], k [L, H, G, N0], a [w]}
//                   the weights of the best validation accuracy (what evaluation and the theory use)
//   /weights attrs  step, validation_accuracy, validation_loss of that point
//   /state/{theta, adam_m, adam_v} [n]   the last step's weights and Adam moments (flat θ, see
//                   train/gd_network.hpp), attrs step, stale, loss_sum, loss_count, fingerprint, stop_reason
//   /history/{step, train_loss, validation_loss, validation_accuracy} [k]   one row per validation
//   /evaluation/<set> attrs accuracy, loss, count   (finished files: the best weights on test/OOD sets)
//   /config, /provenance    (io/run_record.hpp)
// A checkpoint is the same file, complete = 0, at <output>.partial.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/config.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/train/trainer.hpp"

namespace attnpaths {

struct TrainHistory {
  std::vector<std::int64_t> step;
  std::vector<double> train_loss, validation_loss, validation_accuracy;
};

// Everything a run needs to continue exactly, plus what it reports.
struct TrainProgress {
  TrainState state;
  std::vector<double> best_theta;
  std::int64_t best_step = -1;
  double best_accuracy = -1, best_loss = std::numeric_limits<double>::infinity();
  std::int64_t stale = 0;                    // validations since the best
  double loss_sum = 0;                       // training loss summed since the last validation
  std::int64_t loss_count = 0;
  TrainHistory history;
  std::string stop_reason;                   // "steps", "plateau" (finished runs)
  std::vector<Evaluation> evaluations;       // finished runs: best weights on test / OOD sets
};

// A trained network for evaluation (the best weights).
struct GdModel {
  std::string path;
  GdShape shape;
  std::string precision;     // "float32" | "float64"
  std::vector<double> theta;  // flat θ (train/gd_network.hpp)
};

// Writes the model file (collective) to `path` through `path`.tmp + rename.
void write_model_file(const std::string& path, const Comm& comm, const GdShape& shape, const std::string& precision,
                      const TrainProgress& progress, const std::string& fingerprint, bool complete,
                      const Config& config, const Provenance& prov, const StageTimers& timers);
// Reads the resumable state of a checkpoint; InputError if its fingerprint differs from `fingerprint`.
TrainProgress read_checkpoint(const std::string& path, const Comm& comm, const GdShape& shape,
                              const std::string& fingerprint);
GdModel read_model(const std::string& path, const Comm& comm);

// Accuracy and loss of a model's best weights on `set` with heads removed (docs/training.md):
// the library function behind `train --evaluate` (and network-side pruning).
Evaluation evaluate_model(const GdModel& model, const ExampleSet& set, const Comm& comm,
                          const std::vector<HeadRef>& removed = {});

}  // namespace attnpaths
