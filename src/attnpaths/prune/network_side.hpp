// Network-side pruning of the gradient-descent network (docs/model.md §6, docs/pruning.md): removing
// heads zeroes their outputs and rescales each layer's head sum by (H − d_l)^{-1/2}
// (train/gd_network.hpp path_coefficients). The output is linear in the path coefficients c_π,
// f(x) = Σ_π c_π g_π(x) with g_π = U_π·x̃_π at c = 1, so one forward pass per example set gives every
// pruned network's output; the GD order parameter U^GD comes from the same weights.
#pragma once

#include <Eigen/Dense>

#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/data/dataset.hpp"
#include "attnpaths/train/model_file.hpp"

namespace attnpaths {

// Per-path terms of one example set, gathered on every rank.
struct NetworkPathTerms {
  std::string set;
  int paths = 0;
  std::vector<double> g;  // [count, H_tot]: g[μ·H_tot + π] = U_π·x̃^μ_π with every c_π = 1
  std::vector<double> y;  // [count]
};

// One forward pass of the model's best weights over the set's local rows (collective).
NetworkPathTerms network_path_terms(const GdModel& model, const ExampleSet& set, const Comm& comm);

// Accuracy (sign f = y; f = 0 counts as wrong) and loss mean (f − y)² with the heads `removed`
// (InputError if a layer would lose every head).
Evaluation pruned_network_evaluation(const NetworkPathTerms& terms, const GdShape& shape,
                                     const std::vector<HeadRef>& removed);

// The GD order parameter U^GD_ππ' = W^GD_π · W^GD_π' with W^GD_π = aᵀ V_L^{h_L} ⋯ V_1^{h_1} (raw trained
// weights, V0 excluded, no scaling; docs/model.md §5.2), paths row-major with layer 1 slowest.
Eigen::MatrixXd gd_order_parameter(const GdModel& model);

// InputError unless the dataset's attention is the model's: L, heads, "qk" style with G = the model's,
// and Q, K equal to the model's (to 1e-6 relative: float32 models).
void check_model_attention(const GdModel& model, const AttentionSpec& attention, const std::string& data_path);

}  // namespace attnpaths
