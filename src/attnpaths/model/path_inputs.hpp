// Attention-path inputs (docs/model.md §1.3). For every path π = (h_1..h_L) (row-major, layer 1
// slowest) the token weights a_π = Ω^{1,h1} Ω^{2,h2} ⋯ ω^{L,hL} ∈ R^T and the path-propagated input
// x̃_π = x a_π = Σ_s a_π[s] x_s ∈ R^{N0}. Computed ONCE per example set and shared by the theory,
// the predictor and the sampler. The theory's scaled inputs are ξ_π = sqrt(σ0²/(N0·H_tot)) · x̃_π;
// that scale is applied by the consumer, not stored here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/model/attention.hpp"
#include "attnpaths/model/examples.hpp"

namespace attnpaths {

struct PathInputs {
  std::string set_name;     // name of the example set ("train", "test", ...)
  std::int64_t count = 0;   // global number of examples
  Range local;              // rows owned by this rank (same sharding as the ExampleSet)
  int paths = 0;            // H_tot
  int dim = 0;              // N0
  std::vector<double> xt;   // unscaled x̃: xt[(mu*paths + pi)*dim + i], mu local
  std::vector<double> y;    // local targets

  std::int64_t local_count() const { return local.size(); }
  const double* row(std::int64_t mu_local) const { return xt.data() + mu_local * paths * dim; }
};

// Token weights of every path for one example: a[pi*T + s]. Workspace-free, for tests and tools.
void path_token_weights(const AttentionSpec& attention, const double* x, int T, int N0, double* a);

// Examples per canonical batch of compute_path_inputs for T tokens (batches start at multiples of it):
// blocks of a stream aligned to multiples of it cost no padding.
std::int64_t path_input_batch(int T);

// x̃ for the local rows of `set` (batched BLAS-3 over blocks of examples, OpenMP over examples).
PathInputs compute_path_inputs(const ExampleSet& set, const AttentionSpec& attention, int T, int N0);

}  // namespace attnpaths
