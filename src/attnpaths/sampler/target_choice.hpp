// `attnpaths sample --target auto`: the posterior NUTS runs on, picked by a measured cost model
// (docs/sampling.md, "Which target: the cost model"). All targets give the same law of U^s and f; they
// differ in the CPU time per effective draw,
//   seconds per effective draw = seconds per gradient × gradients per effective draw.
// Seconds per gradient (1 thread; constants fitted to bench_sampler on the Markov (P = 100, 4 paths) and
// image (P = 600, 16 paths) tasks):
//   joint:       c_ex·P·r + c_w·n                                   (r = N0·H_tot, n = all weights)
//   marginals:   c_chol·P³ + c_pair·H_tot(H_tot+1)/2·P(P+1)/2 + c_w·n (path-pair kernel form: n sampled
//                coordinates; v0-marginal: the weights without V0, path-weights: PathWeightFactors)
//                beyond the path-pair memory budget, the primal (c_chol·(P³ + 2P²r)) or dual
//                (c_chol·1.3·r³) kernel form.
// Gradients per effective draw (min bulk ESS of U_1): the marginal targets are not stiff (tree depth
// 5–6 with ~0.5–0.9 effective draws per draw: ~70 gradients, measured); the joint target is stiff in
// the P data-pinned directions of V0: its leapfrog steps per draw grow like Temp^(-1/2) (255 at Temp = 1 on
// the image task, the depth cap 1023 at Temp = 0.01 on the Markov task), ~0.6 effective draws per draw.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnpaths/model/network.hpp"

namespace attnpaths {

struct TargetCost {
  std::string target;                  // "joint" | "v0-marginal" | "path-weights"
  std::int64_t coordinates = 0;        // sampled coordinates
  double seconds_per_gradient = 0;     // model, 1 thread
  double gradients_per_effective_draw = 0;
  double seconds_per_effective_draw() const { return seconds_per_gradient * gradients_per_effective_draw; }
};

// Whether the path-weight parametrisation applies: Π_{k>l} H_k ≤ w_l for every layer l.
bool path_weights_apply(const Architecture& shape);

// The modelled cost of every target that applies to `shape` (joint, v0-marginal, and path-weights
// when path_weights_apply) for P training examples at `temperature` with NUTS depth limit `max_depth`.
std::vector<TargetCost> target_costs(const Architecture& shape, std::int64_t P, double temperature, int max_depth);

// The cheapest of target_costs; on a tie the later one (path-weights over v0-marginal over joint).
std::string automatic_target(const Architecture& shape, std::int64_t P, double temperature, int max_depth);

}  // namespace attnpaths
