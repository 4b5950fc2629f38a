// Empirical Lipschitz constants (docs/robustness.md §3): the largest ratios
//   head:  ‖Ω(x+δ) − Ω(x)‖_F / ‖δ‖_F   and   max_t ‖ΔΩ_{·t}‖₁ / d∞(δ)
//   path:  ‖x̃_π(x+δ) − x̃_π(x)‖ / ‖δ‖_F  and   ‖Δx̃_π‖ / d∞(δ)
// over test inputs x and perturbations δ that are random (Gaussian, dense or on one token) or
// adversarial (power iteration on the Jacobian for the worst direction, then projected gradient
// ascent of the finite ratio at several sizes). Every measured pair (x, x+δ) is also divided by the
// bound at R = the radius of the smallest ball B_R holding both, so `worst` ≤ 1 is the check that
// the bound holds (a value above 1 is a bug in the bound or in the measurement).
#pragma once

#include <cstdint>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/data/dataset.hpp"
#include "attnpaths/robustness/lipschitz.hpp"

namespace attnpaths {

struct EmpiricalOptions {
  std::int64_t examples = 16;   // first test examples used (global indices)
  int random_directions = 8;    // random δ per example and size
  int power_iterations = 8;     // for the worst direction of the Jacobian
  int ascent_steps = 5;         // projected gradient steps per size
  std::uint64_t seed = 1;
};

// One family of maps (heads or paths): per map, the largest ratios and the largest ratio / bound.
struct RatioTable {
  std::vector<double> random_frobenius, adversarial_frobenius;  // input ‖δ‖_F
  std::vector<double> random_transport, adversarial_transport;  // input d∞(δ)
  std::vector<double> worst;  // max over every measurement of ratio / bound(R of the pair), both norms
  void resize(std::size_t n);
  void max_over(const Comm& comm);  // elementwise max over the ranks
};

struct EmpiricalConstants {
  RatioTable heads;  // flattened (layer, head), layer 1 first
  RatioTable paths;  // flattened path index
  std::int64_t examples = 0;
};

// Measures every head and path on the local rows of `set` with global index < options.examples.
EmpiricalConstants measure_lipschitz(const ExampleSet& set, const AttentionSpec& attention,
                                     const ScoreMatrices& scores, int T, int N0, const EmpiricalOptions& options,
                                     const Comm& comm);

}  // namespace attnpaths
