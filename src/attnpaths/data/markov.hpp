// Hidden-Markov-chain classification task (docs/model.md §5.1) and its hand-built "w"-style heads.
//
// Each sequence: T hidden states σ_t ∈ {+,−} of a 2-state Markov chain (first state uniform; each
// next state stays with probability stay_plus for class y = +1, stay_minus for y = −1), token
// features v_{σ_t} + noise, a BOS token (zero features) prepended, one-hot positions in R^{T+1}
// stacked under the features: x ∈ R^{(T+1) × N0}, N0 = feature_dim + T + 1 (rows = tokens).
// The first half of every example set has y = +1, the second half y = −1.
//
// Random numbers (core/rng.hpp) are keyed by (seed, domain, set·2^48 + global example index), so the
// data do not depend on the rank count nor on the head set; each random head by (its seed,
// head_perturbation, 0), so a head slot with the same seed is the same matrix in every head set.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/core/config.hpp"
#include "attnpaths/data/dataset.hpp"

namespace attnpaths {

// Random streams of the Markov-chain task (core/rng.hpp).
namespace rng_domain {
inline constexpr RngDomain markov_chain{1};         // the hidden chain of each example (index = example)
inline constexpr RngDomain markov_noise{2};         // the token noise of each example
inline constexpr RngDomain head_perturbation{3};    // the random heads (perturbation p)
}  // namespace rng_domain

struct MarkovOptions {
  std::int64_t train_examples = 100;      // P (even: first half y = +1)
  std::int64_t test_examples = 1000;      // Q (even)
  std::int64_t validation_examples = 0;   // 0 = no validation set (even otherwise)
  int tokens = 30;                        // T, without the BOS token
  int feature_dim = 200;                  // dimension of v± (even); N0 = feature_dim + tokens + 1
  double stay_plus = 0.7;                 // stay probability of class y = +1 ("sticky")
  double stay_minus = 0.3;                // stay probability of class y = −1 ("switching")
  double noise_parallel = 1.0;            // s_∥: noise along e_∥ = (v+ + v−)/|v+ + v−|
  double noise_perpendicular = 1.0;       // s_⊥: noise along e_⊥ = (v+ − v−)/|v+ − v−|
  double noise_out_of_plane = 1.0;        // s_oop: noise in the complement of span(e_∥, e_⊥)
  double beta = 10.0;                     // β, multiplies every head's W
  double perturbation = 1.0;              // p of the random heads (4paths, good+denoising)
  std::int64_t seed = 1;                  // data seed (chains and noise)
  std::vector<std::int64_t> head_seeds_layer1{127, 147};  // one seed per layer-1 head slot
  std::vector<std::int64_t> head_seeds_layer2{217, 247};  // one seed per layer-2 head slot
  std::string heads = "4paths";           // "4paths" | "2paths" | "good" | "good+denoising"

  // Throws InputError naming the offending option.
  void validate() const;
  // Every option (resolved, defaults included) plus task = "markov".
  Config to_config() const;
};

// The head sets known to generate_markov.
const std::vector<std::string>& markov_head_sets();

enum class MarkovSet : std::uint64_t { train = 0, test = 1, validation = 2 };

// Generates every example set (each rank only its block of rows, core/comm.hpp block_range) and the
// attention heads (replicated). Task "markov", readout last_token, softmax.
Dataset generate_markov(const MarkovOptions& options, const Comm& comm);

// The dataset without its examples (every set's count and local rows; x, y empty), for writing it
// block by block with markov_rows (write_dataset_streamed).
Dataset markov_header(const MarkovOptions& options, const Comm& comm);

// Rows [rows.begin, rows.end) (global indices) of `set` (named train, test or validation; its count
// set): x [rows × (T+1) × N0] and y. Each example depends only on its set and index (counter-based
// RNG), so the file does not depend on the block size nor the rank count.
void markov_rows(const MarkovOptions& options, const ExampleSet& set, const Range& rows, double* x, double* y);

// The attention of the head set (docs/model.md §5.1; identical on every rank).
AttentionSpec markov_attention(const MarkovOptions& options);

// One example (global index `index` of `set`, whose size is `count`): x [(T+1) × N0] and its label.
// `states` (optional) receives σ_1..σ_T as +1 / −1 (the hidden state of token s = 1..T).
double markov_example(const MarkovOptions& options, MarkovSet set, std::int64_t count, std::int64_t index, double* x,
                      int* states = nullptr);

// The class feature vectors v+ = √2·[1, 0], v− = √2·[0, 1] (halves of feature_dim).
std::vector<double> markov_feature_vector(const MarkovOptions& options, int sign);

}  // namespace attnpaths
