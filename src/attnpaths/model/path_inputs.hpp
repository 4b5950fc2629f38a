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
  Buffer<double> xt;        // unscaled x̃: xt[(mu*paths + pi)*dim + i], mu local
  std::vector<double> y;    // local targets

  std::int64_t local_count() const { return local.size(); }
  const double* row(std::int64_t mu_local) const { return xt.data() + mu_local * paths * dim; }
};

// Token weights of every path for one example: a[pi*T + s]. Workspace-free, for tests and tools.
void path_token_weights(const AttentionSpec& attention, const double* x, int T, int N0, double* a);

// Examples per batch of compute_path_inputs for T tokens, the unit of work of one thread (batches
// start at global multiples of it): a stream's blocks of a whole number of batches keep both threads
// busy.
std::int64_t path_input_batch(int T);

// x̃ for the local rows of `set`: batches of path_input_batch(T) examples in parallel on the threads
// of core/parallel.hpp (the BLAS serial inside), each batch's attention in BLAS-3 calls of a fixed
// number of examples at global multiples (x̃ is bitwise independent of the rank and thread counts).
PathInputs compute_path_inputs(const ExampleSet& set, const AttentionSpec& attention, int T, int N0);

// The memory of compute_path_inputs, one per thread: a stream that passes the same workspace for
// every block allocates and zero-fills nothing after its first block.
struct BatchWorkspace {
  std::vector<double> xb;            // one BLAS call's examples padded with zero rows (calls not all local)
  BlockAttention block;              // the attention of one call's examples
  std::vector<double> a, cur, next;  // one example's token weights a_π and their recursion
};
struct PathInputWorkspace {
  std::vector<BatchWorkspace> threads;
};
// The same into xt [set.local.size() × H_tot × N0] (xt[(mu*H_tot + pi)*N0 + i], mu local).
void compute_path_inputs(const ExampleSet& set, const AttentionSpec& attention, int T, int N0,
                         PathInputWorkspace& work, double* xt);

}  // namespace attnpaths
