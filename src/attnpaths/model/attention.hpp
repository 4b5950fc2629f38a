// Attention of the paper's network (docs/model.md §1.1–1.2): fixed query/key weights, scores from the
// RAW input x of every layer (never from z^{l-1}), softmax (or hardmax) over the key index s.
#pragma once

#include <cstdint>

#include "attnpaths/data/dataset.hpp"

namespace attnpaths {

// Ω^{l,h}(x) for one example x [T, N0] (row s = token s): omega[s*T + t] = softmax_s A[s,t]
// (key s, query t; every column t sums to 1). Hardmax: one-hot at the first arg-max over s.
void attention_matrix(const AttentionLayer& layer, int head, Nonlinearity nonlinearity, const double* x, int T,
                      int N0, double* omega);

// Readout vector of the last layer (docs/model.md §1.2) from its attention matrix: omega_vec[s].
void readout_vector(Readout readout, const double* omega, int T, double* omega_vec);

// Batched forms over `examples` consecutive examples x [examples, T, N0] (one BLAS-3 product per
// head for the whole block, then small per-example work in parallel with OpenMP).
//   attention_matrices: omega [examples, T, T], as attention_matrix for each example.
//   readout_vectors:    omega_vec [examples, T], the readout vector of head `head` of a LAST layer;
//                       for last_token / first_token only the one query column is scored.
void attention_matrices(const AttentionLayer& layer, int head, Nonlinearity nonlinearity, const double* x,
                        std::int64_t examples, int T, int N0, double* omega);
void readout_vectors(const AttentionLayer& layer, int head, Nonlinearity nonlinearity, Readout readout,
                     const double* x, std::int64_t examples, int T, int N0, double* omega_vec);

}  // namespace attnpaths
