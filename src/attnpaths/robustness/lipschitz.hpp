// Lipschitz bounds of the attention map x ↦ Ω(x) and of the path inputs x ↦ x̃_π on the ball
// B_R = {x : ‖x_s‖ ≤ R for every token s} (docs/robustness.md has the derivation), and the
// derivatives that measure the same constants empirically:
//   head, Euclidean:  ‖Ω(x') − Ω(x)‖_F                 ≤ √T · R · ‖W‖₂ · ‖x' − x‖_F
//   head, transport:  max_t ‖Ω_{·t}(x') − Ω_{·t}(x)‖₁  ≤ 2 · R · ‖W‖₂ · d∞(x, x')
//   path:             W₁(ν_π(x), ν_π(x')) ≥ ‖x̃_π(x') − x̃_π(x)‖ and both are
//                     ≤ (1 + 2 R² Σ_l ‖W^{l,h_l}‖₂) · d∞(x, x')  ≤ (same) · ‖x' − x‖_F
// with d∞(x, x') = max_s ‖x_s − x'_s‖, W the score matrix of the head (A_st = x_s^T W x_t; for "qk"
// W = K^T Q / √G) and ν_π(x) = Σ_s a_π[s] δ_{x_s} the token measure a path carries. Softmax only.
// Arrays are row-major: x [T, N0] (row s = token s), Ω [T, T] with Ω[s*T + t] (key s, query t).
#pragma once

#include <Eigen/Dense>

#include <vector>

#include "attnpaths/core/eigen.hpp"
#include "attnpaths/core/comm.hpp"
#include "attnpaths/data/dataset.hpp"

namespace attnpaths {

using RowMatrix = RowMajorMatrix;  // core/eigen.hpp

// The score matrix W of head `head` (A_st = x_s^T W x_t): W itself ("w"), K^T Q / √G ("qk").
RowMatrix score_matrix(const AttentionLayer& layer, int head, int N0);
// Largest singular value ‖W‖₂.
double spectral_norm(const RowMatrix& W);

// max_s ‖x_s‖ over every token of the local rows of `set`, maximised over the ranks.
double token_radius(const ExampleSet& set, int T, int N0, const Comm& comm);
// max_s ‖x_s‖ of one example x [T, N0].
double example_radius(const double* x, int T, int N0);
// d∞(x, x') = max_s ‖x_s − x'_s‖ of a perturbation dx [T, N0].
double token_max_norm(const double* dx, int T, int N0);

// The three bounds above.
double head_bound_frobenius(int T, double R, double score_norm);
double head_bound_transport(double R, double score_norm);
double path_bound(double R, const std::vector<double>& score_norms_on_path);

// Every head's score matrix and its norm, [l][h] (l = 0 is layer 1).
struct ScoreMatrices {
  std::vector<std::vector<RowMatrix>> W;
  std::vector<std::vector<double>> norm;
  static ScoreMatrices of(const AttentionSpec& attention, int N0);
  // ‖W^{l,h_l}‖₂ for the heads along path pi.
  std::vector<double> norms_on_path(const AttentionSpec& attention, int pi) const;
};

// Directional derivative of Ω at x along dx (docs/model.md §1.1 differentiated):
//   dA = dX W X^T + X W dX^T,   dΩ_{·t} = (diag p − p p^T) dA_{·t}   with p = Ω_{·t}(x).
// omega is Ω(x) [T, T]; domega [T, T].
void attention_jvp(const RowMatrix& W, const double* omega, const double* x, const double* dx, int T, int N0,
                   double* domega);
// Adjoint of attention_jvp: gx [T, N0] = ∂⟨G, Ω(x)⟩/∂x for an upstream G [T, T]:
//   Ā_{·t} = p ⊙ (G_{·t} − p·G_{·t}),   ∂/∂X = Ā X W^T + Ā^T X W.
void attention_vjp(const RowMatrix& W, const double* omega, const double* x, const double* g, int T, int N0,
                   double* gx);

// Gradient with respect to x [T, N0] of Σ_π g_π · x̃_π(x) for an upstream g [H_tot, N0]: the reverse
// pass through x̃_π = X^T a_π, a_π = Ω^{1,h1} ⋯ ω^{L,hL} (docs/model.md §1.3). gx [T, N0] (overwritten).
void path_input_vjp(const AttentionSpec& attention, const ScoreMatrices& scores, const double* x, int T, int N0,
                    const double* g, double* gx);
// x̃_π(x) for every path, [H_tot, N0] (reuses the model's path token weights).
std::vector<double> path_inputs_of(const AttentionSpec& attention, const double* x, int T, int N0);

}  // namespace attnpaths
