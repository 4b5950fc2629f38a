// Lipschitz bounds and derivatives of the attention map and of the path inputs
// (docs/robustness.md §1–2). Forward values come from model/ (attention_matrix, readout_vector,
// path_token_weights); only the derivatives are new here.
#include "attnpaths/robustness/lipschitz.hpp"

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/model/attention.hpp"
#include "attnpaths/model/path_inputs.hpp"

namespace attnpaths {

namespace {


using ConstMap = Eigen::Map<const RowMatrix>;
using Map = Eigen::Map<RowMatrix>;

// Ā_{·t} = (diag p − p p^T) G_{·t} for every query t, p = Ω_{·t}: the softmax Jacobian (symmetric,
// so the same operation serves the forward and the reverse derivative).
RowMatrix softmax_jacobian_columns(const ConstMap& omega, const RowMatrix& G) {
  RowMatrix out(G.rows(), G.cols());
  for (Eigen::Index t = 0; t < G.cols(); ++t) {
    const double m = omega.col(t).dot(G.col(t));
    out.col(t) = omega.col(t).cwiseProduct((G.col(t).array() - m).matrix());
  }
  return out;
}

// The adjoint of the readout (docs/model.md §1.2): Ω̄ [T, T] += the column(s) the readout vector reads.
void add_readout_adjoint(Readout readout, const Eigen::VectorXd& vbar, RowMatrix& omega_bar) {
  const Eigen::Index T = omega_bar.rows();
  switch (readout) {
    case Readout::last_token: omega_bar.col(T - 1) += vbar; return;
    case Readout::first_token: omega_bar.col(0) += vbar; return;
    case Readout::mean:
      for (Eigen::Index t = 0; t < T; ++t) omega_bar.col(t) += vbar / static_cast<double>(T);
      return;
  }
}

}  // namespace

RowMatrix score_matrix(const AttentionLayer& layer, int head, int N0) {
  ATTN_REQUIRE(head >= 0 && head < layer.heads, InputError, "score matrix: head {} of a layer of {} heads", head,
               layer.heads);
  if (layer.style == AttentionStyle::w) return ConstMap(layer.w.data() + sz(head) * sz(N0) * sz(N0), N0, N0);
  const int G = layer.qk_dim;
  const ConstMap Q(layer.q.data() + sz(head) * sz(G) * sz(N0), G, N0);
  const ConstMap K(layer.k.data() + sz(head) * sz(G) * sz(N0), G, N0);
  return K.transpose() * Q / std::sqrt(static_cast<double>(G));  // (K x_s)·(Q x_t)/√G = x_s^T (K^T Q/√G) x_t
}

double spectral_norm(const RowMatrix& W) {
  if (W.size() == 0) return 0.0;
  const Eigen::BDCSVD<Eigen::MatrixXd> svd(W);
  // A relative margin covers the rounding of the SVD: a bound must never be smaller than the truth.
  return svd.singularValues()(0) * (1.0 + 1e-12);
}

double example_radius(const double* x, int T, int N0) {
  double r = 0.0;
  for (int s = 0; s < T; ++s) r = std::max(r, ConstMap(x + sz(s) * sz(N0), 1, N0).norm());
  return r;
}

double token_max_norm(const double* dx, int T, int N0) { return example_radius(dx, T, N0); }

double token_radius(const ExampleSet& set, int T, int N0, const Comm& comm) {
  double r = 0.0;
  const std::size_t per = sz(T) * sz(N0);
  for (std::int64_t mu = 0; mu < set.local.size(); ++mu) r = std::max(r, example_radius(set.x.data() + sz(mu) * per, T, N0));
  return comm.max(r);
}

double head_bound_frobenius(int T, double R, double score_norm) {
  return std::sqrt(static_cast<double>(T)) * R * score_norm;
}

double head_bound_transport(double R, double score_norm) { return 2.0 * R * score_norm; }

double path_bound(double R, const std::vector<double>& score_norms_on_path) {
  double sum = 0.0;
  for (double n : score_norms_on_path) sum += n;
  return 1.0 + 2.0 * R * R * sum;
}

ScoreMatrices ScoreMatrices::of(const AttentionSpec& attention, int N0) {
  ScoreMatrices s;
  for (const auto& layer : attention.layers) {
    s.W.emplace_back();
    s.norm.emplace_back();
    for (int h = 0; h < layer.heads; ++h) {
      s.W.back().push_back(score_matrix(layer, h, N0));
      s.norm.back().push_back(spectral_norm(s.W.back().back()));
    }
  }
  return s;
}

std::vector<double> ScoreMatrices::norms_on_path(const AttentionSpec& attention, int pi) const {
  std::vector<double> out;
  for (int l = 0; l < attention.depth(); ++l) out.push_back(norm[sz(l)][sz(attention.head_on_path(pi, l))]);
  return out;
}

void attention_jvp(const RowMatrix& W, const double* omega, const double* x, const double* dx, int T, int N0,
                   double* domega) {
  const ConstMap X(x, T, N0), D(dx, T, N0), Om(omega, T, T);
  const RowMatrix dA = D * W * X.transpose() + X * W * D.transpose();  // dA_st = dx_s^T W x_t + x_s^T W dx_t
  Map(domega, T, T) = softmax_jacobian_columns(Om, dA);
}

void attention_vjp(const RowMatrix& W, const double* omega, const double* x, const double* g, int T, int N0,
                   double* gx) {
  const ConstMap X(x, T, N0), Om(omega, T, T), G(g, T, T);
  const RowMatrix Abar = softmax_jacobian_columns(Om, G);
  Map(gx, T, N0) = Abar * X * W.transpose() + Abar.transpose() * X * W;
}

std::vector<double> path_inputs_of(const AttentionSpec& attention, const double* x, int T, int N0) {
  const int H = attention.paths();
  std::vector<double> a(sz(H) * sz(T));
  path_token_weights(attention, x, T, N0, a.data());
  RowMatrix out = ConstMap(a.data(), H, T) * ConstMap(x, T, N0);  // x̃_π = Σ_s a_π[s] x_s
  return std::vector<double>(out.data(), out.data() + out.size());
}

void path_input_vjp(const AttentionSpec& attention, const ScoreMatrices& scores, const double* x, int T, int N0,
                    const double* g, double* gx) {
  ATTN_REQUIRE(attention.nonlinearity == Nonlinearity::softmax, InputError,
               "robustness: derivatives and Lipschitz bounds need softmax attention (hardmax is not continuous)");
  const int L = attention.depth(), H = attention.paths();
  // Forward: Ω^{l,h} [T, T] for every head of every layer (the last layer's too, for its readout).
  std::vector<std::vector<RowMatrix>> omega(sz(L)), omega_bar(sz(L));
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < attention.layers[sz(l)].heads; ++h) {
      omega[sz(l)].emplace_back(T, T);
      attention_matrix(attention.layers[sz(l)], h, attention.nonlinearity, x, T, N0, omega[sz(l)].back().data());
      omega_bar[sz(l)].push_back(RowMatrix::Zero(T, T));
    }
  const ConstMap X(x, T, N0), Gp(g, H, N0);
  Map GX(gx, T, N0);
  GX.setZero();
  std::vector<Eigen::VectorXd> v(sz(L) + 1);  // v[l] = Ω^{l} ⋯ ω^{L} on the path (v[L-1] = ω^L)
  for (int pi = 0; pi < H; ++pi) {
    const int hL = attention.head_on_path(pi, L - 1);
    v[sz(L - 1)].resize(T);
    readout_vector(attention.readout, omega[sz(L - 1)][sz(hL)].data(), T, v[sz(L - 1)].data());
    for (int l = L - 2; l >= 0; --l) v[sz(l)] = omega[sz(l)][sz(attention.head_on_path(pi, l))] * v[sz(l + 1)];
    // x̃_π = X^T a: ∂/∂X += a g_π^T, ā = X g_π.
    GX += v[0] * Gp.row(pi);
    Eigen::VectorXd abar = X * Gp.row(pi).transpose();
    for (int l = 0; l + 1 < L; ++l) {  // a = Ω^l v^{l+1}: Ω̄^l += ā v^{l+1 T}, ā ← Ω^{l T} ā
      const int h = attention.head_on_path(pi, l);
      omega_bar[sz(l)][sz(h)] += abar * v[sz(l + 1)].transpose();
      abar = omega[sz(l)][sz(h)].transpose() * abar;
    }
    add_readout_adjoint(attention.readout, abar, omega_bar[sz(L - 1)][sz(hL)]);
  }
  RowMatrix head_gx(T, N0);
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < attention.layers[sz(l)].heads; ++h) {
      attention_vjp(scores.W[sz(l)][sz(h)], omega[sz(l)][sz(h)].data(), x, omega_bar[sz(l)][sz(h)].data(), T, N0,
                    head_gx.data());
      GX += head_gx;
    }
}

}  // namespace attnpaths
