// Head scores and pruning orders (docs/model.md §6).
//   score: with S = (|U_1| + |U_1|ᵀ)/2 unfolded over the path index π = (h_1..h_L), the raw score of head
//   h of layer l is Σ S_ππ' over every pair where π OR π' passes through (l, h) (= row part + column
//   part − the part where both do); the score is the raw score divided by the largest one.
//   pruning a head on the theory side: the rows and columns of U_1 of every path through it are zeroed.
//   progressive pruning: the heads of an order are removed cumulatively; a head whose removal would
//   leave its layer without heads is skipped, so every sequence ends with one head per layer.
#pragma once

#include <Eigen/Dense>

#include <cstdint>
#include <vector>

#include "attnpaths/data/dataset.hpp"
#include "attnpaths/train/gd_network.hpp"  // HeadRef

namespace attnpaths {

struct HeadScores {
  std::vector<HeadRef> heads;  // every head, layer-major: (1,0), (1,1), …, (L, H_L − 1)
  std::vector<double> raw;     // Σ S_ππ' over the pairs through the head
  std::vector<double> score;   // raw / max raw
  std::vector<HeadRef> ascending;  // heads by ascending score (ties: layer-major order)
};

// Every head of `attention`, layer-major.
std::vector<HeadRef> all_heads(const AttentionSpec& attention);
// Scores of every head from the order parameter U_1 [H_tot × H_tot] (paths of `attention`).
HeadScores head_scores(const Eigen::MatrixXd& U1, const AttentionSpec& attention);
// U_1 with the rows and columns of every path through a `removed` head zeroed.
Eigen::MatrixXd pruned_order_parameter(const Eigen::MatrixXd& U1, const AttentionSpec& attention,
                                       const std::vector<HeadRef>& removed);
// The heads progressive pruning removes, in turn, following `order` (heads that would empty their
// layer skipped): Σ_l (H_l − 1) heads when `order` holds every head.
std::vector<HeadRef> removal_sequence(const std::vector<HeadRef>& order, const AttentionSpec& attention);
// Random order number r of `heads` (Fisher–Yates on the counter-based stream (seed, pruning_order, r):
// the same on any rank count).
std::vector<HeadRef> random_order(std::vector<HeadRef> heads, std::uint64_t seed, std::uint64_t r);
// Spearman's rank correlation (average ranks for ties, then Pearson's r of the ranks); NaN when
// either vector is constant.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace attnpaths
