// Attention scores, softmax/hardmax and readouts (docs/model.md §1.1–1.2).
//
// Both styles are evaluated as A[s,t] = left_s · right_t with per-token rows computed for a whole
// block of examples by one BLAS-3 product per head:
//   "w":  left = X W           (rows x_s^T W),            right = X          (d = N0)
//   "qk": left = X K^T / √G    (rows (K x_s)^T / √G),     right = X Q^T      (d = G)
// so that A[s,t] = x_s^T W x_t, resp. (K x_s)·(Q x_t)/√G; then the T×T scores of each example (one
// small GEMM) and the normalisation over the key index s. Serial: the path inputs run blocks of
// examples in parallel (core/parallel.hpp).
#include "attnpaths/model/attention.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/linalg.hpp"

namespace attnpaths {

namespace {

// Checks that `head` exists in `layer` and that its weights have the shapes of docs/files.md §1.
void check_head(const AttentionLayer& layer, int head, int N0) {
  ATTN_REQUIRE(head >= 0 && head < layer.heads, InputError, "attention: head {} requested from a layer of {} heads",
               head, layer.heads);
  const std::size_t n0 = sz(N0), h = sz(layer.heads);
  if (layer.style == AttentionStyle::w) {
    ATTN_REQUIRE(layer.w.size() == h * n0 * n0, InputError,
                 "attention: style \"w\" layer holds {} weights, expected H·N0·N0 = {}·{}·{}", layer.w.size(),
                 layer.heads, N0, N0);
  } else {
    const std::size_t g = sz(layer.qk_dim);
    ATTN_REQUIRE(layer.qk_dim > 0 && layer.q.size() == h * g * n0 && layer.k.size() == h * g * n0, InputError,
                 "attention: style \"qk\" layer holds q {} and k {} weights, expected H·G·N0 = {}·{}·{} each",
                 layer.q.size(), layer.k.size(), layer.heads, layer.qk_dim, N0);
  }
}

void check_rows(std::int64_t examples, int T) {
  ATTN_REQUIRE(examples >= 0 && T > 0 && examples * T <= INT_MAX, InputError,
               "attention: a block of {} examples × {} tokens is too large for one BLAS call", examples, T);
}

double dot(const double* a, const double* b, int n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Normalises the scores of one query over the keys s = 0..T-1 (stride between keys: `stride`).
// Softmax is stabilised by subtracting the max; hardmax puts 1 at the first arg-max.
void normalise_over_keys(Nonlinearity nonlinearity, double* a, int T, int stride) {
  int arg = 0;
  double top = a[0];
  for (int s = 1; s < T; ++s)
    if (a[s * stride] > top) {
      top = a[s * stride];
      arg = s;
    }
  if (nonlinearity == Nonlinearity::hardmax) {
    for (int s = 0; s < T; ++s) a[s * stride] = s == arg ? 1.0 : 0.0;
    return;
  }
  double sum = 0.0;
  for (int s = 0; s < T; ++s) {
    a[s * stride] = std::exp(a[s * stride] - top);
    sum += a[s * stride];
  }
  const double inv = 1.0 / sum;
  for (int s = 0; s < T; ++s) a[s * stride] *= inv;
}

}  // namespace

void attention_matrices(const AttentionLayer& layer, int head, Nonlinearity nonlinearity, const double* x,
                        std::int64_t examples, int T, int N0, double* omega, AttentionScratch& scratch) {
  check_head(layer, head, N0);
  check_rows(examples, T);
  if (examples == 0) return;
  const int rows = static_cast<int>(examples * T);
  const double* right = x;
  int d = N0;
  // resize keeps the buffers' memory between blocks of the same size (no allocation, no zero-filling).
  if (layer.style == AttentionStyle::w) {
    // left = X W  [examples·T × N0]
    const double* w = layer.w.data() + sz(head) * sz(N0) * sz(N0);
    scratch.left.resize(sz(rows) * sz(N0));
    linalg::gemm(false, false, rows, N0, N0, 1.0, x, N0, w, N0, 0.0, scratch.left.data(), N0);
  } else {
    // left = X K^T / √G, right = X Q^T  [examples·T × G]
    const int G = layer.qk_dim;
    d = G;
    const double* q = layer.q.data() + sz(head) * sz(G) * sz(N0);
    const double* k = layer.k.data() + sz(head) * sz(G) * sz(N0);
    scratch.left.resize(sz(rows) * sz(G));
    scratch.right.resize(sz(rows) * sz(G));
    linalg::gemm(false, true, rows, G, N0, 1.0 / std::sqrt(static_cast<double>(G)), x, N0, k, N0, 0.0,
                 scratch.left.data(), G);
    linalg::gemm(false, true, rows, G, N0, 1.0, x, N0, q, N0, 0.0, scratch.right.data(), G);
    right = scratch.right.data();
  }
  const std::size_t tt = sz(T) * sz(T), td = sz(T) * sz(d);
  const double* left = scratch.left.data();
  for (std::int64_t mu = 0; mu < examples; ++mu) {
    double* om = omega + sz(mu) * tt;
    // A = l r^T [T×T] (one small GEMM per example: the BLAS's vector kernel), then softmax over s.
    linalg::gemm(false, true, T, T, d, 1.0, left + sz(mu) * td, d, right + sz(mu) * td, d, 0.0, om, T);
    for (int t = 0; t < T; ++t) normalise_over_keys(nonlinearity, om + t, T, T);
  }
}

void attention_matrices(const AttentionLayer& layer, int head, Nonlinearity nonlinearity, const double* x,
                        std::int64_t examples, int T, int N0, double* omega) {
  AttentionScratch scratch;
  attention_matrices(layer, head, nonlinearity, x, examples, T, N0, omega, scratch);
}

void attention_matrix(const AttentionLayer& layer, int head, Nonlinearity nonlinearity, const double* x, int T,
                      int N0, double* omega) {
  attention_matrices(layer, head, nonlinearity, x, 1, T, N0, omega);
}

void readout_vector(Readout readout, const double* omega, int T, double* omega_vec) {
  switch (readout) {
    case Readout::last_token:  // ω_s = Ω_{s,T-1}
      for (int s = 0; s < T; ++s) omega_vec[s] = omega[s * T + T - 1];
      return;
    case Readout::first_token:  // ω_s = Ω_{s,0}
      for (int s = 0; s < T; ++s) omega_vec[s] = omega[s * T];
      return;
    case Readout::mean:  // ω_s = (1/T) Σ_t Ω_{st}
      for (int s = 0; s < T; ++s) {
        double sum = 0.0;
        for (int t = 0; t < T; ++t) sum += omega[s * T + t];
        omega_vec[s] = sum / T;
      }
      return;
  }
}

void readout_vectors(const AttentionLayer& layer, int head, Nonlinearity nonlinearity, Readout readout,
                     const double* x, std::int64_t examples, int T, int N0, double* omega_vec,
                     AttentionScratch& scratch) {
  check_head(layer, head, N0);
  check_rows(examples, T);
  if (examples == 0) return;
  if (readout == Readout::mean) {
    std::vector<double> omega(sz(examples) * sz(T) * sz(T));
    attention_matrices(layer, head, nonlinearity, x, examples, T, N0, omega.data(), scratch);
    for (std::int64_t mu = 0; mu < examples; ++mu)
      readout_vector(readout, omega.data() + sz(mu) * sz(T) * sz(T), T, omega_vec + sz(mu) * sz(T));
    return;
  }
  // One query t* per example: A[s,t*] = x_s · r with r = W x_{t*} ("w") or K^T Q x_{t*} / √G ("qk").
  const int query = readout == Readout::last_token ? T - 1 : 0;
  const int n = static_cast<int>(examples);
  const std::size_t tn = sz(T) * sz(N0);
  auto& xq = scratch.left;
  auto& r = scratch.right;
  xq.resize(sz(n) * sz(N0));
  r.resize(sz(n) * sz(N0));
  for (int mu = 0; mu < n; ++mu)
    std::copy_n(x + sz(mu) * tn + sz(query) * sz(N0), N0, xq.data() + sz(mu) * sz(N0));
  if (layer.style == AttentionStyle::w) {
    const double* w = layer.w.data() + sz(head) * sz(N0) * sz(N0);
    linalg::gemm(false, true, n, N0, N0, 1.0, xq.data(), N0, w, N0, 0.0, r.data(), N0);  // r_μ = (W x_t*)^T
  } else {
    const int G = layer.qk_dim;
    const double* q = layer.q.data() + sz(head) * sz(G) * sz(N0);
    const double* k = layer.k.data() + sz(head) * sz(G) * sz(N0);
    std::vector<double> qx(sz(n) * sz(G));
    linalg::gemm(false, true, n, G, N0, 1.0, xq.data(), N0, q, N0, 0.0, qx.data(), G);  // (Q x_t*)^T
    linalg::gemm(false, false, n, N0, G, 1.0 / std::sqrt(static_cast<double>(G)), qx.data(), G, k, N0, 0.0, r.data(),
                 N0);  // (K^T Q x_t*)^T / √G
  }
  for (int mu = 0; mu < n; ++mu) {
    const double* xm = x + sz(mu) * tn;
    double* v = omega_vec + sz(mu) * sz(T);
    for (int s = 0; s < T; ++s) v[s] = dot(xm + sz(s) * sz(N0), r.data() + sz(mu) * sz(N0), N0);
    normalise_over_keys(nonlinearity, v, T, 1);
  }
}

void readout_vectors(const AttentionLayer& layer, int head, Nonlinearity nonlinearity, Readout readout,
                     const double* x, std::int64_t examples, int T, int N0, double* omega_vec) {
  AttentionScratch scratch;
  readout_vectors(layer, head, nonlinearity, readout, x, examples, T, N0, omega_vec, scratch);
}

std::string to_string(AttentionStyle s) { return s == AttentionStyle::w ? "w" : "qk"; }
std::string to_string(Nonlinearity n) { return n == Nonlinearity::softmax ? "softmax" : "hardmax"; }
std::string to_string(Readout r) {
  switch (r) {
    case Readout::last_token: return "last_token";
    case Readout::first_token: return "first_token";
    case Readout::mean: return "mean";
  }
  return "?";
}

AttentionStyle parse_attention_style(const std::string& s, const std::string& where) {
  if (s == "w") return AttentionStyle::w;
  if (s == "qk") return AttentionStyle::qk;
  throw InputError(fmt::format("{}: unknown attention style '{}' (expected \"w\" or \"qk\")", where, s));
}

Nonlinearity parse_nonlinearity(const std::string& s, const std::string& where) {
  if (s == "softmax") return Nonlinearity::softmax;
  if (s == "hardmax") return Nonlinearity::hardmax;
  throw InputError(fmt::format("{}: unknown nonlinearity '{}' (expected \"softmax\" or \"hardmax\")", where, s));
}

Readout parse_readout(const std::string& s, const std::string& where) {
  if (s == "last_token") return Readout::last_token;
  if (s == "first_token") return Readout::first_token;
  if (s == "mean") return Readout::mean;
  throw InputError(
      fmt::format("{}: unknown readout '{}' (expected \"last_token\", \"first_token\" or \"mean\")", where, s));
}

std::vector<int> AttentionSpec::heads() const {
  std::vector<int> h;
  for (const auto& l : layers) h.push_back(l.heads);
  return h;
}

int AttentionSpec::paths() const {
  int n = 1;
  for (const auto& l : layers) n *= l.heads;
  return n;
}

int AttentionSpec::head_on_path(int pi, int layer) const {
  // pi = ((h1*H2 + h2)*H3 + h3)... : peel off the fastest (last-layer) digits.
  for (int l = depth() - 1; l > layer; --l) pi /= layers[static_cast<size_t>(l)].heads;
  return pi % layers[static_cast<size_t>(layer)].heads;
}

std::vector<std::string> AttentionSpec::default_path_labels() const {
  std::vector<std::string> labels;
  for (int pi = 0; pi < paths(); ++pi) {
    std::string s;
    for (int l = 0; l < depth(); ++l) s += (l ? "." : "") + std::to_string(head_on_path(pi, l));
    labels.push_back(s);
  }
  return labels;
}

void BlockAttention::compute(const AttentionSpec& att, const double* x, std::int64_t nb, int T, int N0) {
  const int L = att.depth();
  full.resize(sz(L - 1));
  for (int l = 0; l + 1 < L; ++l) {
    const auto& layer = att.layers[sz(l)];
    full[sz(l)].resize(sz(layer.heads));
    for (int h = 0; h < layer.heads; ++h) {
      auto& om = full[sz(l)][sz(h)];
      om.resize(sz(nb) * sz(T) * sz(T));
      attention_matrices(layer, h, att.nonlinearity, x, nb, T, N0, om.data(), scratch);
    }
  }
  const auto& layer = att.layers[sz(L - 1)];
  last.resize(sz(layer.heads));
  for (int h = 0; h < layer.heads; ++h) {
    last[sz(h)].resize(sz(nb) * sz(T));
    readout_vectors(layer, h, att.nonlinearity, att.readout, x, nb, T, N0, last[sz(h)].data(), scratch);
  }
}

}  // namespace attnpaths
