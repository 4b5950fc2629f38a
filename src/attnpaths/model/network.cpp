#include "attnpaths/model/network.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/linalg.hpp"

namespace attnpaths {

// ------------------------------------------------------------------------------------------ path network

PathNetwork::PathNetwork(Architecture shape, bool with_v0) : shape_(std::move(shape)) {
  shape_.validate(true);
  widths_ = shape_.whole_widths();
  shift_ = with_v0 ? 0 : shape_.v0_size();
  const int L = shape_.depth();
  double prod = 1;
  for (int l = 1; l <= L; ++l) prod *= shape_.width(l);
  path_scale_ = 1.0 / std::sqrt(prod);
  readout_scale_ = 1.0 / std::sqrt(double(shape_.width(0)) * shape_.input_dim * shape_.paths());
  level_.resize(sz(L + 1));
  dlevel_.resize(sz(L + 1));
  std::int64_t rows = 1;
  for (int l = L; l >= 0; --l) {
    level_[sz(l)].assign(sz(rows * shape_.width(l)), 0.0);
    dlevel_[sz(l)].assign(level_[sz(l)].size(), 0.0);
    if (l >= 1) {
      path_weight_flops_ += 2.0 * shape_.heads[sz(l - 1)] * double(rows) * shape_.width(l) * shape_.width(l - 1);
      rows *= shape_.heads[sz(l - 1)];
    }
  }
  W_.assign(sz(std::int64_t{shape_.paths()} * shape_.width(0)), 0.0);
  dW_.assign(W_.size(), 0.0);
}

// docs/model.md §1.3: W_π = aᵀ V_L^{hL} ⋯ V_1^{h1} / sqrt(w1⋯wL), suffix products shared. Row (h_l, S) of
// level l-1 is row S of level l times V_l^{h_l}, so at level 0 the row index is the path index π
// (layer-1 head slowest).
const std::vector<double>& PathNetwork::forward_path_weights(const double* theta) {
  const int L = shape_.depth();
  const auto& w = widths_;
  std::copy_n(theta + shape_.readout_offset() - shift_, w[sz(L)], level_[sz(L)].begin());
  int rows = 1;  // rows of level l = Π_{k>l} H_k
  for (int l = L; l >= 1; --l) {
    const int H = shape_.heads[sz(l - 1)];
    const int wo = w[sz(l)], wi = w[sz(l - 1)];
    for (int h = 0; h < H; ++h)
      linalg::gemm(false, false, rows, wi, wo, 1.0, level_[sz(l)].data(), wo, layer(theta, l, h), wi, 0.0,
                   level_[sz(l - 1)].data() + sz(h) * sz(rows) * sz(wi), wi);
    rows *= H;
  }
  for (std::size_t i = 0; i < W_.size(); ++i) W_[i] = level_[0][i] * path_scale_;
  return W_;
}

void PathNetwork::path_readouts(const double* theta, double* u) const {
  ATTN_REQUIRE(shift_ == 0, LibraryError, "internal: path readouts need V0 in θ");
  linalg::gemm(false, false, shape_.paths(), shape_.input_dim, shape_.width(0), readout_scale_, W_.data(),
               shape_.width(0), theta + shape_.v0_offset(), shape_.input_dim, 0.0, u, shape_.input_dim);
}

void PathNetwork::order_parameter(double* U) const {
  const int H = shape_.paths(), w0 = shape_.width(0);
  linalg::gemm(false, true, H, H, w0, 1.0 / w0, W_.data(), w0, W_.data(), w0, 0.0, U, H);
}

void PathNetwork::backward_readouts(const double* theta, const double* du, double* grad) {
  readouts_to_path_weights(theta, du, grad);
  backward_path_weights(theta, dW_.data(), grad);
}

// u = s·W V0:  ADDS ∂/∂V0 = s·Wᵀ du [w0 × N0] to grad; dW_ = ∂/∂W = s·du V0ᵀ [H × w0].
void PathNetwork::readouts_to_path_weights(const double* theta, const double* du, double* grad) {
  ATTN_REQUIRE(shift_ == 0, LibraryError, "internal: backward through the readouts needs V0 in θ");
  const int H = shape_.paths(), w0 = shape_.width(0), N0 = shape_.input_dim;
  linalg::gemm(true, false, w0, N0, H, readout_scale_, W_.data(), w0, du, N0, 1.0, grad + shape_.v0_offset(), N0);
  linalg::gemm(false, true, H, w0, N0, readout_scale_, du, N0, theta + shape_.v0_offset(), N0, 0.0, dW_.data(), w0);
}

void PathNetwork::backward_path_weights(const double* theta, const double* dW, double* grad) {
  backward_layers(theta, dW, grad, false);
}

namespace {

// One layer block V [wo × wi] in a single pass over it (the rank-R updates with R = rows ≤ 4 are
// memory-bound, and BLAS would stream V and its gradient once per product):
//   g = (with_prior ? −V/σ² : g) + levelᵀ dblock,   dlevel += dblock Vᵀ,   returns Σ V² when with_prior.
template <int R>
double fused_layer_block(const double* V, double* g, const double* level, const double* dblock, double* dlevel,
                         int wo, int wi, bool with_prior, double inv_variance) {
  double s = 0;
  for (int i = 0; i < wo; ++i) {
    const double* v = V + sz(i) * sz(wi);
    double* gi = g + sz(i) * sz(wi);
    double lev[R], acc[R];
    for (int k = 0; k < R; ++k) {
      lev[k] = level[sz(k) * sz(wo) + sz(i)];
      acc[k] = 0.0;
    }
    double si = 0;
    if (with_prior) {
#pragma omp simd reduction(+ : si)
      for (int j = 0; j < wi; ++j) {
        const double vj = v[j];
        si += vj * vj;
        double gj = -vj * inv_variance;
        for (int k = 0; k < R; ++k) gj += lev[k] * dblock[sz(k) * sz(wi) + sz(j)];
        gi[j] = gj;
      }
    } else {
#pragma omp simd
      for (int j = 0; j < wi; ++j) {
        double gj = gi[j];
        for (int k = 0; k < R; ++k) gj += lev[k] * dblock[sz(k) * sz(wi) + sz(j)];
        gi[j] = gj;
      }
    }
    for (int k = 0; k < R; ++k) {
      const double* d = dblock + sz(k) * sz(wi);
      double a = 0;
#pragma omp simd reduction(+ : a)
      for (int j = 0; j < wi; ++j) a += d[j] * v[j];
      acc[k] = a;
    }
    for (int k = 0; k < R; ++k) dlevel[sz(k) * sz(wo) + sz(i)] += acc[k];
    s += si;
  }
  return s;
}

}  // namespace

// Backward through the layers; with_prior: the layer blocks of grad are WRITTEN with the prior
// gradient plus the backward terms (and the layers' log prior is returned), else ADDED to.
double PathNetwork::backward_layers(const double* theta, const double* dW, double* grad, bool with_prior) {
  const int L = shape_.depth();
  const auto& w = widths_;
  for (std::size_t i = 0; i < W_.size(); ++i) dlevel_[0][i] = dW[i] * path_scale_;
  double prior = 0;
  int rows = shape_.paths();
  for (int l = 1; l <= L; ++l) {
    const int H = shape_.heads[sz(l - 1)];
    rows /= H;  // rows of level l
    const int wo = w[sz(l)], wi = w[sz(l - 1)];
    const double inv = 1.0 / shape_.variances[sz(l)];
    std::fill(dlevel_[sz(l)].begin(), dlevel_[sz(l)].end(), 0.0);
    for (int h = 0; h < H; ++h) {
      const double* dblock = dlevel_[sz(l - 1)].data() + sz(h) * sz(rows) * sz(wi);
      const double* V = layer(theta, l, h);
      double* g = layer(grad, l, h);
      const double* level = level_[sz(l)].data();
      double* dlevel = dlevel_[sz(l)].data();
      double s = 0;
      switch (rows) {
        case 1: s = fused_layer_block<1>(V, g, level, dblock, dlevel, wo, wi, with_prior, inv); break;
        case 2: s = fused_layer_block<2>(V, g, level, dblock, dlevel, wo, wi, with_prior, inv); break;
        case 3: s = fused_layer_block<3>(V, g, level, dblock, dlevel, wo, wi, with_prior, inv); break;
        case 4: s = fused_layer_block<4>(V, g, level, dblock, dlevel, wo, wi, with_prior, inv); break;
        default: {
          // Many rows: BLAS-3. ∂V_l^h += level_lᵀ [wo × rows] · dblock [rows × wi];  ∂level_l += dblock · V_l^hᵀ.
          if (with_prior) {
            const std::int64_t begin = shape_.layer_offset(l, h);
            prior += prior_block(theta, grad, true, begin, begin + std::int64_t{wo} * wi, shape_.variances[sz(l)]);
          }
          linalg::gemm(true, false, wo, wi, rows, 1.0, level, wo, dblock, wi, 1.0, g, wi);
          linalg::gemm(false, true, rows, wo, wi, 1.0, dblock, wi, V, wi, 1.0, dlevel, wo);
        }
      }
      prior -= 0.5 * s * inv;
    }
  }
  double* ga = grad + shape_.readout_offset() - shift_;
  for (int i = 0; i < w[sz(L)]; ++i) ga[i] += dlevel_[sz(L)][sz(i)];
  return with_prior ? prior : 0.0;
}

double PathNetwork::log_prior(const double* theta, double* grad, bool overwrite) const {
  const int L = shape_.depth();
  double total = prior_block(theta, grad, overwrite, 0, shape_.v0_size(), shape_.variances[0]);
  for (int l = 1; l <= L; ++l)
    total += prior_block(theta, grad, overwrite, shape_.layer_offset(l, 0), shape_.layer_offset(l + 1, 0),
                         shape_.variances[sz(l)]);
  return total + prior_block(theta, grad, overwrite, shape_.readout_offset(), shape_.size(), shape_.variances[sz(L + 1)]);
}

// −Σ θ_i²/(2σ²) over the weights [begin, end) of the full layout; adds (overwrite: writes) the gradient.
// One vectorised pass: at large widths the blocks are most of θ and the work is memory-bound.
double PathNetwork::prior_block(const double* theta, double* grad, bool overwrite, std::int64_t begin,
                                std::int64_t end, double variance) const {
  begin = std::max(begin, shift_) - shift_;
  end -= shift_;
  if (begin >= end) return 0.0;
  const double inv = 1.0 / variance;
  double s = 0;
  if (grad && overwrite) {
#pragma omp simd reduction(+ : s)
    for (std::int64_t i = begin; i < end; ++i) {
      s += theta[i] * theta[i];
      grad[i] = -theta[i] * inv;
    }
  } else if (grad) {
#pragma omp simd reduction(+ : s)
    for (std::int64_t i = begin; i < end; ++i) {
      s += theta[i] * theta[i];
      grad[i] -= theta[i] * inv;
    }
  } else {
#pragma omp simd reduction(+ : s)
    for (std::int64_t i = begin; i < end; ++i) s += theta[i] * theta[i];
  }
  return -0.5 * s * inv;
}

double PathNetwork::prior_and_backward_readouts(const double* theta, const double* du, double* grad) {
  const double v0 = prior_block(theta, grad, true, 0, shape_.v0_size(), shape_.variances[0]);
  readouts_to_path_weights(theta, du, grad);
  return v0 + prior_and_backward_path_weights(theta, dW_.data(), grad);
}

double PathNetwork::prior_and_backward_path_weights(const double* theta, const double* dW, double* grad) {
  const int L = shape_.depth();
  const double a = prior_block(theta, grad, true, shape_.readout_offset(), shape_.size(), shape_.variances[sz(L + 1)]);
  return a + backward_layers(theta, dW, grad, true);
}

void PathNetwork::predict(const double* u, const double* xt, std::int64_t count, int paths, int dim, double* f) {
  const std::int64_t n = std::int64_t{paths} * dim;
  for (std::int64_t mu = 0; mu < count; ++mu) {
    const double* x = xt + mu * n;
    // Eight independent partial sums in a fixed order: vectorisable and rank-count independent.
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k) acc[k] += u[i + k] * x[i + k];
    for (; i < n; ++i) acc[0] += u[i] * x[i];
    f[mu] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  }
}

// ------------------------------------------------------------------------------------------ path-weight factors

PathWeightFactors::PathWeightFactors(Architecture shape) : shape_(std::move(shape)) {
  shape_.validate(true);
  widths_ = shape_.whole_widths();
  const int L = shape_.depth();
  const auto& w = widths_;
  offset_.assign(sz(L + 2), 0);
  rows_.assign(sz(L + 1), 1);
  level_.resize(sz(L + 1));
  dlevel_.resize(sz(L + 1));
  chol_.resize(sz(L + 1));
  std::int64_t off = w[sz(L)];
  int n = 1;  // rows of level l
  double prod = 1;
  for (int l = L; l >= 1; --l) {
    ATTN_REQUIRE(n <= w[sz(l)], InputError,
                 "path-weight parametrisation: layer {} has {} suffix paths but width {} (needs width ≥ paths); use "
                 "another --target",
                 l, n, w[sz(l)]);
    rows_[sz(l)] = n;
    offset_[sz(l)] = off;
    off += std::int64_t{shape_.heads[sz(l - 1)]} * n * w[sz(l - 1)];
    chol_[sz(l)].assign(sz(n) * sz(n), 0.0);
    forward_flops_ += 2.0 * n * n * w[sz(l)] + double(n) * n * n / 3 + 2.0 * shape_.heads[sz(l - 1)] * n * n * w[sz(l - 1)];
    n *= shape_.heads[sz(l - 1)];
    prod *= w[sz(l)];
  }
  rows_[0] = n;
  size_ = off;
  for (int l = 0; l <= L; ++l) {
    level_[sz(l)].assign(sz(rows_[sz(l)]) * sz(w[sz(l)]), 0.0);
    dlevel_[sz(l)].assign(level_[sz(l)].size(), 0.0);
  }
  path_scale_ = 1.0 / std::sqrt(prod);
  W_.assign(level_[0].size(), 0.0);
}

double PathWeightFactors::prior_sd(std::int64_t i) const {
  return i < shape_.width(shape_.depth()) ? std::sqrt(shape_.variances[sz(shape_.depth() + 1)]) : 1.0;
}

const std::vector<double>& PathWeightFactors::forward(const double* phi) {
  const int L = shape_.depth();
  const auto& w = widths_;
  std::copy_n(phi, w[sz(L)], level_[sz(L)].begin());
  for (int l = L; l >= 1; --l) {
    const int n = rows_[sz(l)], wi = w[sz(l - 1)], wo = w[sz(l)];
    // C = chol(σl² B Bᵀ) (n × n, lower).
    auto& C = chol_[sz(l)];
    linalg::gemm(false, true, n, n, wo, shape_.variances[sz(l)], level_[sz(l)].data(), wo, level_[sz(l)].data(), wo, 0.0,
                 C.data(), n);
    if (!linalg::cholesky(n, C.data(), n))
      throw NumericalError(fmt::format("path-weight parametrisation: the suffix rows of layer {} are degenerate", l));
    for (int h = 0; h < shape_.heads[sz(l - 1)]; ++h)
      linalg::gemm(false, false, n, wi, n, 1.0, C.data(), n, phi + offset_[sz(l)] + std::int64_t{h} * n * wi, wi, 0.0,
                   level_[sz(l - 1)].data() + sz(h) * sz(n) * sz(wi), wi);
  }
  for (std::size_t i = 0; i < W_.size(); ++i) W_[i] = level_[0][i] * path_scale_;
  return W_;
}

void PathWeightFactors::backward(const double* phi, const double* dW, double* grad) {
  const int L = shape_.depth();
  const auto& w = widths_;
  for (std::size_t i = 0; i < W_.size(); ++i) dlevel_[0][i] = dW[i] * path_scale_;
  for (int l = 1; l <= L; ++l) {
    const int n = rows_[sz(l)], wi = w[sz(l - 1)], wo = w[sz(l)];
    const auto& C = chol_[sz(l)];
    std::vector<double> dC(sz(n) * sz(n), 0.0);
    for (int h = 0; h < shape_.heads[sz(l - 1)]; ++h) {
      const double* Y = phi + offset_[sz(l)] + std::int64_t{h} * n * wi;
      const double* dout = dlevel_[sz(l - 1)].data() + sz(h) * sz(n) * sz(wi);
      // out = C Y:  ∂Y += Cᵀ dout,  ∂C += dout Yᵀ.
      linalg::gemm(true, false, n, wi, n, 1.0, C.data(), n, dout, wi, 1.0, grad + offset_[sz(l)] + std::int64_t{h} * n * wi,
                   wi);
      linalg::gemm(false, true, n, n, wi, 1.0, dout, wi, Y, wi, 1.0, dC.data(), n);
    }
    // Cholesky backward (Murray 2016): P = Φ(Cᵀ C̄) (lower triangle, halved diagonal),
    // S = C⁻ᵀ P C⁻¹, Ḡ = (S + Sᵀ)/2 for the symmetric G = σl² B Bᵀ; then ∂B = 2σl² Ḡ B.
    std::vector<double> Pm(sz(n) * sz(n), 0.0);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j <= i; ++j) {
        double v = 0;
        for (int k = 0; k < n; ++k) v += C[sz(k * n + i)] * dC[sz(k * n + j)];
        Pm[sz(i * n + j)] = i == j ? 0.5 * v : v;
      }
    // X = C⁻ᵀ P  (solve Cᵀ X = P, Cᵀ upper triangular), then S = X C⁻¹ (solve S C = X).
    std::vector<double> X(Pm), S(sz(n) * sz(n), 0.0);
    for (int c = 0; c < n; ++c)
      for (int i = n - 1; i >= 0; --i) {
        double v = X[sz(i * n + c)];
        for (int k = i + 1; k < n; ++k) v -= C[sz(k * n + i)] * X[sz(k * n + c)];
        X[sz(i * n + c)] = v / C[sz(i * n + i)];
      }
    for (int r = 0; r < n; ++r)
      for (int j = n - 1; j >= 0; --j) {
        double v = X[sz(r * n + j)];
        for (int k = j + 1; k < n; ++k) v -= S[sz(r * n + k)] * C[sz(k * n + j)];
        S[sz(r * n + j)] = v / C[sz(j * n + j)];
      }
    std::vector<double> G(sz(n) * sz(n));
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) G[sz(i * n + j)] = 0.5 * (S[sz(i * n + j)] + S[sz(j * n + i)]);
    linalg::gemm(false, false, n, wo, n, 2.0 * shape_.variances[sz(l)], G.data(), n, level_[sz(l)].data(), wo, 0.0,
                 dlevel_[sz(l)].data(), wo);
  }
  for (int i = 0; i < w[sz(L)]; ++i) grad[i] += dlevel_[sz(L)][sz(i)];
}

double PathWeightFactors::log_prior(const double* phi, double* grad, bool overwrite) const {
  if (grad && overwrite) std::fill(grad, grad + size_, 0.0);
  const int wL = shape_.width(shape_.depth());
  const double inv = 1.0 / shape_.variances[sz(shape_.depth() + 1)];
  double s = 0, t = 0;
  for (int i = 0; i < wL; ++i) {
    s += phi[i] * phi[i];
    if (grad) grad[i] -= phi[i] * inv;
  }
  for (std::int64_t i = wL; i < size_; ++i) {
    t += phi[i] * phi[i];
    if (grad) grad[i] -= phi[i];
  }
  return -0.5 * s * inv - 0.5 * t;
}

// ------------------------------------------------------------------------------------------ naive pass

namespace {

struct NaivePass {
  // z[l] = Z^l [T × w_l] for l = 0..L-1; m[l][h] = Ω^{l+1,h}ᵀ Z^l (layers < L) or the readout mix (layer L).
  std::vector<std::vector<double>> z;
  std::vector<std::vector<std::vector<double>>> m;
  std::vector<double> zL;
};

// docs/model.md §1, literally: z0_s = V0 x_s/sqrt(N0); z^l_t = Σ_h V_l^h Σ_s z^{l-1}_s Ω_{st}/sqrt(H_l w_{l-1});
// z^L = Σ_h V_L^h Σ_s z^{L-1}_s ω_s / sqrt(H_L w_{L-1}); f = a·z^L/sqrt(w_L).
double naive_pass(const Architecture& shape, const double* theta, const BlockAttention& att, const double* x, int T,
                  NaivePass& pass) {
  shape.validate(true);
  const int L = shape.depth(), N0 = shape.input_dim;
  const std::vector<int> w = shape.whole_widths();
  pass.z.assign(sz(L), {});
  pass.m.assign(sz(L + 1), {});
  pass.z[0].assign(sz(T) * sz(w[0]), 0.0);
  linalg::gemm(false, true, T, w[0], N0, 1.0 / std::sqrt(double(N0)), x, N0, theta + shape.v0_offset(), N0, 0.0,
               pass.z[0].data(), w[0]);
  for (int l = 1; l < L; ++l) {
    const int H = shape.heads[sz(l - 1)], wi = w[sz(l - 1)], wo = w[sz(l)];
    const double s = 1.0 / std::sqrt(double(H) * wi);
    pass.z[sz(l)].assign(sz(T) * sz(wo), 0.0);
    pass.m[sz(l)].assign(sz(H), {});
    for (int h = 0; h < H; ++h) {
      auto& mh = pass.m[sz(l)][sz(h)];
      mh.assign(sz(T) * sz(wi), 0.0);
      // M_h[t, :] = Σ_s Ω_{st} z_s  (Ωᵀ Z)
      linalg::gemm(true, false, T, wi, T, 1.0, att.full[sz(l - 1)][sz(h)].data(), T, pass.z[sz(l - 1)].data(), wi, 0.0,
                   mh.data(), wi);
      linalg::gemm(false, true, T, wo, wi, s, mh.data(), wi, theta + shape.layer_offset(l, h), wi, 1.0,
                   pass.z[sz(l)].data(), wo);
    }
  }
  const int H = shape.heads[sz(L - 1)], wi = w[sz(L - 1)], wo = w[sz(L)];
  const double s = 1.0 / std::sqrt(double(H) * wi);
  pass.zL.assign(sz(wo), 0.0);
  pass.m[sz(L)].assign(sz(H), {});
  for (int h = 0; h < H; ++h) {
    auto& mh = pass.m[sz(L)][sz(h)];
    mh.assign(sz(wi), 0.0);
    linalg::gemm(false, false, 1, wi, T, 1.0, att.last[sz(h)].data(), T, pass.z[sz(L - 1)].data(), wi, 0.0, mh.data(),
                 wi);
    linalg::gemm(false, true, 1, wo, wi, s, mh.data(), wi, theta + shape.layer_offset(L, h), wi, 1.0, pass.zL.data(),
                 wo);
  }
  const double* a = theta + shape.readout_offset();
  double f = 0;
  for (int i = 0; i < wo; ++i) f += a[i] * pass.zL[sz(i)];
  return f / std::sqrt(double(wo));
}

}  // namespace

double naive_forward(const Architecture& shape, const double* theta, const BlockAttention& attention,
                     const double* x, int tokens) {
  NaivePass pass;
  return naive_pass(shape, theta, attention, x, tokens, pass);
}

double naive_forward_backward(const Architecture& shape, const double* theta, const BlockAttention& att,
                              const double* x, int T, double c, double* grad) {
  NaivePass pass;
  const double f = naive_pass(shape, theta, att, x, T, pass);
  const int L = shape.depth(), N0 = shape.input_dim;
  const std::vector<int> w = shape.whole_widths();
  const double* a = theta + shape.readout_offset();
  const double sa = c / std::sqrt(double(w[sz(L)]));
  double* ga = grad + shape.readout_offset();
  std::vector<double> dzL(sz(w[sz(L)]));
  for (int i = 0; i < w[sz(L)]; ++i) {
    ga[i] += sa * pass.zL[sz(i)];
    dzL[sz(i)] = sa * a[i];
  }
  // Last layer.
  std::vector<double> dz(sz(T) * sz(w[sz(L - 1)]), 0.0), dm;
  {
    const int H = shape.heads[sz(L - 1)], wi = w[sz(L - 1)], wo = w[sz(L)];
    const double s = 1.0 / std::sqrt(double(H) * wi);
    dm.assign(sz(wi), 0.0);
    for (int h = 0; h < H; ++h) {
      const double* V = theta + shape.layer_offset(L, h);
      linalg::gemm(true, false, wo, wi, 1, s, dzL.data(), wo, pass.m[sz(L)][sz(h)].data(), wi, 1.0,
                   grad + shape.layer_offset(L, h), wi);
      linalg::gemm(false, false, 1, wi, wo, s, dzL.data(), wo, V, wi, 0.0, dm.data(), wi);
      // dZ^{L-1}_s += ω_s dm
      linalg::gemm(true, false, T, wi, 1, 1.0, att.last[sz(h)].data(), T, dm.data(), wi, 1.0, dz.data(), wi);
    }
  }
  for (int l = L - 1; l >= 1; --l) {
    const int H = shape.heads[sz(l - 1)], wi = w[sz(l - 1)], wo = w[sz(l)];
    const double s = 1.0 / std::sqrt(double(H) * wi);
    std::vector<double> dprev(sz(T) * sz(wi), 0.0);
    dm.assign(sz(T) * sz(wi), 0.0);
    for (int h = 0; h < H; ++h) {
      const double* V = theta + shape.layer_offset(l, h);
      // Z^l = s Σ_h M_h V_hᵀ:  ∂V_h += s dZᵀ M_h;  dM_h = s dZ V_h;  dZ^{l-1} += Ω_h dM_h.
      linalg::gemm(true, false, wo, wi, T, s, dz.data(), wo, pass.m[sz(l)][sz(h)].data(), wi, 1.0,
                   grad + shape.layer_offset(l, h), wi);
      linalg::gemm(false, false, T, wi, wo, s, dz.data(), wo, V, wi, 0.0, dm.data(), wi);
      linalg::gemm(false, false, T, wi, T, 1.0, att.full[sz(l - 1)][sz(h)].data(), T, dm.data(), wi, 1.0, dprev.data(),
                   wi);
    }
    dz.swap(dprev);
  }
  // Z0 = X V0ᵀ / sqrt(N0):  ∂V0 += dZ0ᵀ X / sqrt(N0).
  linalg::gemm(true, false, w[0], N0, T, 1.0 / std::sqrt(double(N0)), dz.data(), w[0], x, N0, 1.0,
               grad + shape.v0_offset(), N0);
  return f;
}

}  // namespace attnpaths
