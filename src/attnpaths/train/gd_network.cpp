// The gradient-descent network in the path-factorised form (gd_network.hpp; docs/training.md).
#include "attnpaths/train/gd_network.hpp"

#include <Eigen/Dense>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/linalg.hpp"
#include "attnpaths/core/petsc.hpp"
#include "attnpaths/core/rng.hpp"

namespace attnpaths {

namespace {


template <class Real>
using RowMatrix = Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class Real>
using MapM = Eigen::Map<RowMatrix<Real>>;
template <class Real>
using ConstMapM = Eigen::Map<const RowMatrix<Real>>;

// Below this many examples the per-example work stays on the calling thread.
constexpr int min_parallel_examples = 4;

// Softmax over the keys s of every query column t of a [T × T] score matrix (in place).
template <class Real>
void softmax_columns(Real* a, int T) {
  for (int t = 0; t < T; ++t) {
    Real top = a[t];
    for (int s = 1; s < T; ++s) top = std::max(top, a[s * T + t]);
    Real sum = 0;
    for (int s = 0; s < T; ++s) {
      a[s * T + t] = std::exp(a[s * T + t] - top);
      sum += a[s * T + t];
    }
    const Real inv = Real(1) / sum;
    for (int s = 0; s < T; ++s) a[s * T + t] *= inv;
  }
}

// dΩ → dS through the softmax over s (in place): dS_st = Ω_st (dΩ_st − Σ_s' Ω_s't dΩ_s't).
template <class Real>
void softmax_backward(const Real* omega, Real* d, int T) {
  for (int t = 0; t < T; ++t) {
    Real dot = 0;
    for (int s = 0; s < T; ++s) dot += omega[s * T + t] * d[s * T + t];
    for (int s = 0; s < T; ++s) d[s * T + t] = omega[s * T + t] * (d[s * T + t] - dot);
  }
}

// Readout vector ω (docs/model.md §1.2) of Ω [T × T], and its adjoint dΩ from dω (dΩ WRITTEN).
template <class Real>
void readout(Readout r, const Real* omega, int T, Real* w) {
  for (int s = 0; s < T; ++s) {
    if (r == Readout::mean) {
      Real sum = 0;
      for (int t = 0; t < T; ++t) sum += omega[s * T + t];
      w[s] = sum / Real(T);
    } else {
      w[s] = omega[s * T + (r == Readout::last_token ? T - 1 : 0)];
    }
  }
}
template <class Real>
void readout_adjoint(Readout r, const Real* dw, int T, Real* d) {
  std::fill(d, d + T * T, Real(0));
  const int query = r == Readout::last_token ? T - 1 : 0;
  for (int s = 0; s < T; ++s) {
    if (r == Readout::mean)
      for (int t = 0; t < T; ++t) d[s * T + t] = dw[s] / Real(T);
    else
      d[s * T + query] = dw[s];
  }
}

int ipow(int b, int e) {
  int r = 1;
  for (int i = 0; i < e; ++i) r *= b;
  return r;
}

}  // namespace

// ------------------------------------------------------------------------------------------ shape

void GdShape::validate() const {
  auto positive = [](int v, const char* what) {
    ATTN_REQUIRE(v >= 1, InputError, "train: {} must be positive (got {})", what, v);
  };
  positive(tokens, "the number of tokens T");
  positive(input_dim, "the token dimension N0");
  positive(width, "--width");
  positive(qk_dim, "--qk-dim");
  positive(heads, "--heads");
  positive(layers, "--layers");
  ATTN_REQUIRE(std::pow(double(heads), layers) <= 4096, InputError, "train: {} heads ^ {} layers is too many paths",
               heads, layers);
}

int GdShape::paths() const { return ipow(heads, layers); }

Architecture GdShape::value_shape() const {
  return Architecture::network(input_dim, std::vector<int>(sz(layers), heads), std::vector<int>(sz(layers + 1), width),
                               std::vector<double>(sz(layers + 2), 1.0));
}

std::int64_t GdShape::value_size() const { return value_shape().size(); }
std::int64_t GdShape::q_offset(int l, int h) const { return value_size() + (std::int64_t{l - 1} * heads + h) * 2 * qk_block(); }
std::int64_t GdShape::k_offset(int l, int h) const { return q_offset(l, h) + qk_block(); }
std::int64_t GdShape::size() const { return q_offset(layers + 1, 0); }

std::vector<double> path_coefficients(const GdShape& shape, const std::vector<HeadRef>& removed) {
  const int L = shape.layers, H = shape.heads;
  std::vector<std::vector<double>> scale(sz(L), std::vector<double>(sz(H), 1.0));
  std::vector<int> dropped(sz(L), 0);
  for (const auto& [l, h] : removed) {
    ATTN_REQUIRE(l >= 1 && l <= L && h >= 0 && h < H, InputError,
                 "head {}:{} does not exist (layers 1..{}, heads 0..{})", l, h, L, H - 1);
    ATTN_REQUIRE(scale[sz(l - 1)][sz(h)] != 0.0, InputError, "head {}:{} is removed twice", l, h);
    scale[sz(l - 1)][sz(h)] = 0.0;
    ++dropped[sz(l - 1)];
  }
  for (int l = 0; l < L; ++l) {
    ATTN_REQUIRE(dropped[sz(l)] < H, InputError, "cannot remove all {} heads of layer {}", H, l + 1);
    for (double& s : scale[sz(l)]) s *= 1.0 / std::sqrt(double(H - dropped[sz(l)]));
  }
  std::vector<double> c(sz(shape.paths()));
  for (int pi = 0; pi < shape.paths(); ++pi) {
    double v = 1.0;
    for (int l = 0; l < L; ++l) v *= scale[sz(l)][sz((pi / ipow(H, L - 1 - l)) % H)];  // layer 1 slowest
    c[sz(pi)] = v;
  }
  return c;
}

std::vector<double> initial_weights(const GdShape& shape, std::uint64_t seed) {
  std::vector<double> theta(sz(shape.size()));
  std::uint64_t block = 0;
  auto fill = [&](std::int64_t offset, std::int64_t count, int fan_in) {
    RandomStream rng(seed, rng_domain::training_init, block++);
    const double bound = 1.0 / std::sqrt(double(fan_in));
    for (std::int64_t i = 0; i < count; ++i) theta[sz(offset + i)] = bound * (2.0 * rng.uniform() - 1.0);
  };
  const Architecture vs = shape.value_shape();
  fill(vs.v0_offset(), vs.v0_size(), shape.input_dim);
  for (int l = 1; l <= shape.layers; ++l)
    for (int h = 0; h < shape.heads; ++h) fill(vs.layer_offset(l, h), vs.layer_block(l), shape.width);
  fill(vs.readout_offset(), shape.width, shape.width);
  for (int l = 1; l <= shape.layers; ++l)
    for (int h = 0; h < shape.heads; ++h) {
      fill(shape.q_offset(l, h), shape.qk_block(), shape.input_dim);
      fill(shape.k_offset(l, h), shape.qk_block(), shape.input_dim);
    }
  return theta;
}

// ------------------------------------------------------------------------------------------ network

template <class Real>
GdNetwork<Real>::GdNetwork(const GdShape& shape)
    : shape_((shape.validate(), shape)), values_(shape.value_shape()), paths_(shape.paths()) {
  const std::size_t N0 = sz(shape.input_dim);
  theta_values_.resize(sz(shape.value_size()));
  u_.resize(sz(paths_) * N0);
  U_.resize(u_.size());
  M_.resize(sz(shape.layers * shape.heads) * N0 * N0);
  v_.resize(sz(shape.layers));
}

template <class Real>
std::int64_t GdNetwork<Real>::partial_size() const {
  const std::int64_t N0 = shape_.input_dim;
  return paths_ * N0 + std::int64_t{shape_.layers} * shape_.heads * N0 * N0;
}

// U_π = c_π aᵀ V_L⋯V_1 V0 via PathNetwork (whose u carries the scale s = 1/√(w^L · w N0 H_tot));
// M^{l,h} = K^{l,h ᵀ} Q^{l,h} [N0 × N0].
template <class Real>
void GdNetwork<Real>::prepare(const Real* theta, const std::vector<double>& coefficients) {
  ATTN_REQUIRE(static_cast<int>(coefficients.size()) == paths_, LibraryError,
               "internal: {} path coefficients for {} paths", coefficients.size(), paths_);
  coefficients_ = coefficients;
  std::copy(theta, theta + shape_.value_size(), theta_values_.begin());
  values_.forward_path_weights(theta_values_.data());
  values_.path_readouts(theta_values_.data(), u_.data());
  const int N0 = shape_.input_dim, G = shape_.qk_dim;
  const double s = 1.0 / std::sqrt(std::pow(double(shape_.width), shape_.layers) * shape_.width * N0 * paths_);
  for (int pi = 0; pi < paths_; ++pi)
    for (int i = 0; i < N0; ++i) U_[sz(pi * N0 + i)] = Real(coefficients_[sz(pi)] / s * u_[sz(pi * N0 + i)]);
  for (int l = 1; l <= shape_.layers; ++l)
    for (int h = 0; h < shape_.heads; ++h)
      linalg::gemm(true, false, N0, N0, G, Real(1), theta + shape_.k_offset(l, h), N0, theta + shape_.q_offset(l, h),
                   N0, Real(0), M_.data() + sz((l - 1) * shape_.heads + h) * sz(N0) * sz(N0), N0);
}

// Ω^{l,h} [n, T, T] for every layer and head: S = (X M/√G) Xᵀ per example, softmax over s.
template <class Real>
void GdNetwork<Real>::attention(const Real* x, int n) {
  const int T = shape_.tokens, N0 = shape_.input_dim, LH = shape_.layers * shape_.heads;
  const std::size_t tt = sz(T) * sz(T), tn = sz(T) * sz(N0);
  omega_.resize(sz(LH) * sz(n) * tt);
  xm_.resize(sz(n) * tn);
  const Real scale = Real(1) / std::sqrt(Real(shape_.qk_dim));
  for (int lh = 0; lh < LH; ++lh) {
    linalg::gemm(false, false, n * T, N0, N0, scale, x, N0, M_.data() + sz(lh) * sz(N0) * sz(N0), N0, Real(0),
                 xm_.data(), N0);
    Real* om = omega_.data() + sz(lh) * sz(n) * tt;
#pragma omp parallel for schedule(static) if (n >= min_parallel_examples)
    for (int mu = 0; mu < n; ++mu) {
      ConstMapM<Real> left(xm_.data() + sz(mu) * tn, T, N0), right(x + sz(mu) * tn, T, N0);
      MapM<Real> S(om + sz(mu) * tt, T, T);
      S.noalias() = left * right.transpose();
      softmax_columns(S.data(), T);
    }
  }
}

// v_[L-1] = ω^{L,h} (readout); v^{(l)}_{(h, j)} = Ω^{l,h} v^{(l+1)}_j (rows j; layer-1 head slowest);
// then x̃_π = Σ_s v^{(1)}_π[s] x_s.
template <class Real>
void GdNetwork<Real>::path_token_weights(int n) {
  const int T = shape_.tokens, H = shape_.heads, L = shape_.layers, N0 = shape_.input_dim;
  const std::size_t tt = sz(T) * sz(T);
  for (int l = 1; l <= L; ++l) v_[sz(l - 1)].resize(sz(n) * sz(ipow(H, L - l + 1)) * sz(T));
  xt_.resize(sz(n) * sz(paths_) * sz(N0));
  auto om = [&](int l, int h, int mu) { return omega_.data() + (sz((l - 1) * H + h) * sz(n) + sz(mu)) * tt; };
  for (int mu = 0; mu < n; ++mu) {
    Real* top = v_[sz(L - 1)].data() + sz(mu) * sz(H) * sz(T);
    for (int h = 0; h < H; ++h) readout(shape_.readout, om(L, h, mu), T, top + sz(h) * sz(T));
    for (int l = L - 1; l >= 1; --l) {
      const int rows = ipow(H, L - l);  // count at level l+1
      ConstMapM<Real> below(v_[sz(l)].data() + sz(mu) * sz(rows) * sz(T), rows, T);
      for (int h = 0; h < H; ++h) {
        MapM<Real> out(v_[sz(l - 1)].data() + (sz(mu) * sz(rows * H) + sz(h * rows)) * sz(T), rows, T);
        out.noalias() = below * ConstMapM<Real>(om(l, h, mu), T, T).transpose();
      }
    }
  }
}

template <class Real>
void GdNetwork<Real>::forward(const Real* x, int n, Real* f) {
  const int T = shape_.tokens, N0 = shape_.input_dim;
  if (n == 0) return;
  attention(x, n);
  path_token_weights(n);
  const std::size_t tn = sz(T) * sz(N0), pn = sz(paths_) * sz(N0);
#pragma omp parallel for schedule(static) if (n >= min_parallel_examples)
  for (int mu = 0; mu < n; ++mu) {
    MapM<Real> xt(xt_.data() + sz(mu) * pn, paths_, N0);
    xt.noalias() = ConstMapM<Real>(v_[0].data() + sz(mu) * sz(paths_) * sz(T), paths_, T) *
                   ConstMapM<Real>(x + sz(mu) * tn, T, N0);
    f[mu] = (xt.array() * ConstMapM<Real>(U_.data(), paths_, N0).array()).sum();
  }
  petsc::log_flops(forward_flops(n));
}

// Floating-point operations of forward() on n examples: per head X M (2 T N0²) and the scores (2 T² N0),
// the path token weights (2 H_tot T²) and x̃ = v X (2 H_tot T N0) with its product with U (2 H_tot N0).
template <class Real>
double GdNetwork<Real>::forward_flops(int n) const {
  const double T = shape_.tokens, N0 = shape_.input_dim, LH = shape_.layers * shape_.heads, H = paths_;
  return n * (LH * (2 * T * N0 * N0 + 2 * T * T * N0) + 2 * H * T * T + 2 * H * T * N0 + 2 * H * N0);
}

template <class Real>
void GdNetwork<Real>::path_terms(int n, double* g) const {
  const int N0 = shape_.input_dim;
  const std::size_t pn = sz(paths_) * sz(N0);
  for (int mu = 0; mu < n; ++mu)
    for (int pi = 0; pi < paths_; ++pi) {
      const Real* x = xt_.data() + sz(mu) * pn + sz(pi) * sz(N0);
      const Real* u = U_.data() + sz(pi) * sz(N0);
      double s = 0;
      for (int i = 0; i < N0; ++i) s += double(x[i]) * double(u[i]);
      g[sz(mu) * sz(paths_) + sz(pi)] = s;
    }
}

// Per example: dv^{(1)}_π[s] = df·(x_s·U_π); down the levels dΩ^{l,h} = Dᵀ V^{(l+1)}, dV^{(l+1)} += D Ω^{l,h};
// the readout adjoint at layer L; softmax backward; Y^{l,h} = dS X [T × N0] into ys.
template <class Real>
void GdNetwork<Real>::attention_backward(const Real* x, int n, const Real* df, AlignedVector<Real>& ys) {
  const int T = shape_.tokens, H = shape_.heads, L = shape_.layers, N0 = shape_.input_dim;
  const std::size_t tt = sz(T) * sz(T), tn = sz(T) * sz(N0);
  p_.resize(sz(n) * sz(T) * sz(paths_));
  linalg::gemm(false, true, n * T, paths_, N0, Real(1), x, N0, U_.data(), N0, Real(0), p_.data(), paths_);
#pragma omp parallel for schedule(static) if (n >= min_parallel_examples)
  for (int mu = 0; mu < n; ++mu) {
    std::vector<RowMatrix<Real>> dv;  // built by emplace_back: GCC 12 warns falsely on dv[0] = … of a sized vector
    dv.reserve(sz(L));
    dv.emplace_back(df[mu] * ConstMapM<Real>(p_.data() + sz(mu) * sz(T) * sz(paths_), T, paths_).transpose());
    dv.resize(sz(L));
    RowMatrix<Real> dS(T, T);
    auto finish = [&](int l, int h) {  // dS holds dΩ^{l,h}
      const Real* om = omega_.data() + (sz((l - 1) * H + h) * sz(n) + sz(mu)) * tt;
      softmax_backward(om, dS.data(), T);
      MapM<Real>(ys.data() + (sz((l - 1) * H + h) * sz(n) + sz(mu)) * tn, T, N0).noalias() =
          dS * ConstMapM<Real>(x + sz(mu) * tn, T, N0);
    };
    for (int l = 1; l < L; ++l) {
      const int rows = ipow(H, L - l);
      ConstMapM<Real> below(v_[sz(l)].data() + sz(mu) * sz(rows) * sz(T), rows, T);
      dv[sz(l)] = RowMatrix<Real>::Zero(rows, T);
      for (int h = 0; h < H; ++h) {
        const auto D = dv[sz(l - 1)].middleRows(h * rows, rows);
        ConstMapM<Real> om(omega_.data() + (sz((l - 1) * H + h) * sz(n) + sz(mu)) * tt, T, T);
        dS.noalias() = D.transpose() * below;
        dv[sz(l)].noalias() += D * om;
        finish(l, h);
      }
    }
    for (int h = 0; h < H; ++h) {
      readout_adjoint(shape_.readout, dv[sz(L - 1)].row(h).data(), T, dS.data());
      finish(L, h);
    }
  }
}

template <class Real>
void GdNetwork<Real>::backward(const Real* x, int n, const Real* df, double* partial) {
  const int T = shape_.tokens, N0 = shape_.input_dim, LH = shape_.layers * shape_.heads;
  const std::size_t tn = sz(T) * sz(N0), nn = sz(N0) * sz(N0), pn = sz(paths_) * sz(N0);
  if (n == 0) return;
  // dU = Σ_μ df_μ x̃_μ
  AlignedVector<Real> buf(std::max(pn, nn));
  linalg::gemm(false, false, 1, static_cast<int>(pn), n, Real(1), df, n, xt_.data(), static_cast<int>(pn), Real(0),
               buf.data(), static_cast<int>(pn));
  for (std::size_t i = 0; i < pn; ++i) partial[i] += double(buf[i]);
  // dM^{l,h} = Σ_μ X_μᵀ Y_μ^{l,h} / √G
  ys_.resize(sz(LH) * sz(n) * tn);
  attention_backward(x, n, df, ys_);
  const Real scale = Real(1) / std::sqrt(Real(shape_.qk_dim));
  for (int lh = 0; lh < LH; ++lh) {
    linalg::gemm(true, false, N0, N0, n * T, scale, x, N0, ys_.data() + sz(lh) * sz(n) * tn, N0, Real(0), buf.data(),
                 N0);
    double* dm = partial + pn + sz(lh) * nn;
    for (std::size_t i = 0; i < nn; ++i) dm[i] += double(buf[i]);
  }
  petsc::log_flops(2 * forward_flops(n));  // the adjoint of every product of forward()
}

// Values: ∂L/∂u_PathNetwork = c_π dU_π / s, then PathNetwork::backward_readouts. Q, K: dQ = K dM,
// dK = Q dMᵀ.
template <class Real>
void GdNetwork<Real>::weight_gradient(const Real* theta, const double* partial, Real* grad) {
  const int N0 = shape_.input_dim, G = shape_.qk_dim;
  const std::size_t pn = sz(paths_) * sz(N0), nn = sz(N0) * sz(N0);
  const double s = 1.0 / std::sqrt(std::pow(double(shape_.width), shape_.layers) * shape_.width * N0 * paths_);
  std::vector<double> du(pn), gv(sz(shape_.value_size()), 0.0);
  for (int pi = 0; pi < paths_; ++pi)
    for (int i = 0; i < N0; ++i) du[sz(pi * N0 + i)] = coefficients_[sz(pi)] / s * partial[sz(pi * N0 + i)];
  values_.backward_readouts(theta_values_.data(), du.data(), gv.data());
  std::transform(gv.begin(), gv.end(), grad, [](double g) { return Real(g); });
  std::vector<Real> dm(nn);
  for (int l = 1; l <= shape_.layers; ++l)
    for (int h = 0; h < shape_.heads; ++h) {
      const double* src = partial + pn + sz((l - 1) * shape_.heads + h) * nn;
      std::transform(src, src + nn, dm.begin(), [](double g) { return Real(g); });
      linalg::gemm(false, false, G, N0, N0, Real(1), theta + shape_.k_offset(l, h), N0, dm.data(), N0, Real(0),
                   grad + shape_.q_offset(l, h), N0);
      linalg::gemm(false, true, G, N0, N0, Real(1), theta + shape_.q_offset(l, h), N0, dm.data(), N0, Real(0),
                   grad + shape_.k_offset(l, h), N0);
    }
}

template <class Real>
void predict(GdNetwork<Real>& net, const double* x, std::int64_t count, double* f, double* terms) {
  constexpr int block = 32;
  const std::size_t per = sz(net.shape().tokens) * sz(net.shape().input_dim);
  AlignedVector<Real> xb(block * per), fb(block);
  for (std::int64_t b = 0; b < count; b += block) {
    const int n = static_cast<int>(std::min<std::int64_t>(block, count - b));
    std::transform(x + sz(b) * per, x + sz(b + n) * per, xb.begin(), [](double v) { return Real(v); });
    net.forward(xb.data(), n, fb.data());
    for (int i = 0; i < n; ++i) f[b + i] = double(fb[sz(i)]);
    if (terms) net.path_terms(n, terms + sz(b) * sz(net.shape().paths()));
  }
}

template class GdNetwork<float>;
template class GdNetwork<double>;
template void predict<float>(GdNetwork<float>&, const double*, std::int64_t, double*, double*);
template void predict<double>(GdNetwork<double>&, const double*, std::int64_t, double*, double*);

}  // namespace attnpaths
