// Predictor stability under mis-specified test inputs (docs/robustness.md §4): perturbations of
// size ε of a test set, and the mean predictor as a linear functional of the path inputs, which
// is what the adversarial perturbation attacks.
//   gaussian:    x_s,i + ε z,  z ~ N(0, 1) on every feature of every token
//   replace:     round(ε·T) tokens of each example (ε ∈ [0, 1]) replaced by random tokens drawn from
//                N(mean, sd²) with the per-position, per-feature mean and sd of the set
//   adversarial: ε-bounded in every feature (|δ_s,i| ≤ ε): signed-gradient steps that lower the
//                margin y·f̄(x+δ) (multi-scale first step, then projected steps, only improvements
//                kept), the gradient taken through the path inputs (path_input_vjp)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/data/dataset.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"
#include "attnpaths/robustness/lipschitz.hpp"

namespace attnpaths {

// Random streams of the robustness measurements (stability and empirical constants) (core/rng.hpp).
namespace rng_domain {
inline constexpr RngDomain robustness{6};           // perturbations of the test inputs (index = example)
}  // namespace rng_domain

enum class Perturbation { gaussian, replace, adversarial };
std::string to_string(Perturbation p);
Perturbation parse_perturbation(const std::string& s);  // InputError for unknown names

// The mean predictor f̄(x*) = y^T K_T^{-1} k* of the factorised kernel is linear in the (unscaled)
// path inputs of x*: f̄ = Σ_π u_π · x̃*_π. Returns u [H_tot, N0] on every rank, read off by
// evaluating the kernel's own predictor on the H_tot·N0 unit path inputs (collective).
std::vector<double> mean_predictor_weights(RenormalizedKernel& kernel, int paths, int N0, const Comm& comm);

// Per-position, per-feature mean and standard deviation of the tokens of a set [T, N0] (collective).
struct TokenMoments {
  std::vector<double> mean, sd;
  static TokenMoments of(const ExampleSet& set, int T, int N0, const Comm& comm);
};

// What the perturbations need besides the set.
struct PerturbationContext {
  const AttentionSpec* attention = nullptr;
  const ScoreMatrices* scores = nullptr;
  const TokenMoments* moments = nullptr;
  const std::vector<double>* mean_weights = nullptr;  // u (adversarial only)
  int T = 0, N0 = 0;
  int steps = 5;  // adversarial: scales of the first step and projected steps after it
  std::uint64_t seed = 1;
};

// A copy of `set` perturbed with size ε (rank-count independent: random numbers keyed by the
// global example index).
ExampleSet perturb(const ExampleSet& set, Perturbation p, double eps, const PerturbationContext& c);

}  // namespace attnpaths
