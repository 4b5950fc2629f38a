// Data-parallel training of the gradient-descent network (docs/training.md): the episode stream,
// Adam as torch.optim.Adam, one step = batch sharded over the ranks in fixed example blocks whose
// partial gradients are summed along a fixed tree (core/reduction.hpp), so that the weights do not
// depend on the number of ranks beyond round-off; and evaluation on a fixed example set.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/core/reduction.hpp"
#include "attnpaths/data/dataset.hpp"
#include "attnpaths/train/gd_network.hpp"

namespace attnpaths {

// Random streams of the trainer's synthetic episodes (core/rng.hpp).
namespace rng_domain {
inline constexpr RngDomain training_synthetic{31};  // the synthetic episode stream (index = episode)
}  // namespace rng_domain

// Training episodes drawn on the fly: episode `index` is always the same (x [T × N0], target y),
// whichever rank draws it.
class EpisodeStream {
 public:
  virtual ~EpisodeStream() = default;
  virtual int tokens() const = 0;
  virtual int token_dim() const = 0;
  virtual std::string describe() const = 0;
  virtual void episode(std::uint64_t index, double* x, double* y) const = 0;
};

// A synthetic stream for tests and benchmarks: iid N(0, 1) tokens from the stream
// (seed, training_synthetic, index); y = +1 if the first feature summed over the tokens is positive.
class SyntheticStream : public EpisodeStream {
 public:
  SyntheticStream(int tokens, int token_dim, std::uint64_t seed) : T_(tokens), N0_(token_dim), seed_(seed) {}
  int tokens() const override { return T_; }
  int token_dim() const override { return N0_; }
  std::string describe() const override;
  void episode(std::uint64_t index, double* x, double* y) const override;

 private:
  int T_, N0_;
  std::uint64_t seed_;
};

// Episodes of the training image bank of a `data omniglot` file (data/episodes.hpp).
std::unique_ptr<EpisodeStream> make_bank_stream(const std::string& dataset_path, std::uint64_t seed, const Comm& comm);

struct AdamOptions {
  double lr = 3e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 5e-5;  // coupled: added to the gradient (torch.optim.Adam)
};

// Everything that determines the continuation of a run (stored in checkpoints, exactly).
struct TrainState {
  std::vector<double> theta, adam_m, adam_v;  // values of the run's precision, stored as double
  std::int64_t step = 0;                      // Adam steps taken
};

template <class Real>
class Trainer {
 public:
  // `comm`: the ranks sharing each batch; `blocks`: fixed example blocks of the reduction (power of two ≥ ranks).
  Trainer(const GdShape& shape, const AdamOptions& adam, int batch, int blocks, const Comm& comm);
  void set_state(const TrainState& s);
  TrainState state() const;
  const AlignedVector<Real>& theta() const { return theta_; }
  std::int64_t steps() const { return t_; }

  // One Adam step on the episodes step·batch … step·batch + batch − 1 of `stream` (step = steps());
  // returns the mean squared error of the batch (before the update). Collective.
  double step(const EpisodeStream& stream);
  // ∂L/∂θ of the MSE on the given batch (x [batch, T, N0], y) without updating (tests).
  double gradient(const double* x, const double* y, AlignedVector<Real>& grad);

 private:
  double loss_and_gradient(const AlignedVector<Real>& x, const std::vector<double>& y, AlignedVector<Real>& grad);
  void adam_update(const AlignedVector<Real>& grad);
  GdShape shape_;
  AdamOptions adam_;
  int batch_;
  const Comm& comm_;
  ExampleBlocks blocks_;
  GdNetwork<Real> net_;
  std::vector<double> coefficients_;
  AlignedVector<Real> theta_, m_, v_, grad_, x_, f_, df_;
  std::int64_t t_ = 0;
};

struct Evaluation {
  std::string set;
  std::int64_t count = 0;
  double accuracy = 0;  // fraction with sign(f) = y
  double loss = 0;      // mean (f − y)²
};

// Accuracy and loss of the network at θ on `set` (rows sharded over `comm`), with the heads `removed`
// (path_coefficients). Sums run in example order: identical on any number of ranks.
template <class Real>
Evaluation evaluate(GdNetwork<Real>& net, const Real* theta, const ExampleSet& set, const Comm& comm,
                    const std::vector<HeadRef>& removed = {});

}  // namespace attnpaths
