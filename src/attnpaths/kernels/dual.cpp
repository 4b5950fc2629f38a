#include "attnpaths/kernels/dual.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/eigen.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/linalg.hpp"
#include "attnpaths/core/petsc.hpp"

namespace attnpaths {

namespace {
using RowMatrix = RowMajorMatrix;  // core/eigen.hpp
}

GramSums::GramSums(int paths_, int dim_, int keep)
    : paths(paths_), dim(dim_), keep_per_class(keep), xy(static_cast<size_t>(paths_ * dim_), 0.0) {
  const std::size_t r = static_cast<size_t>(paths_ * dim_);
  gram.reserve(r * r + r + 1);
  gram.assign(r * r, 0.0);
}

void GramSums::add(const PathInputs& block) {
  const int r = paths * dim, m = static_cast<int>(block.local.size());
  ATTN_REQUIRE(block.paths == paths && block.dim == dim, LibraryError, "internal: Gram sums of {}×{} features, block {}×{}",
               paths, dim, block.paths, block.dim);
  if (m == 0) return;
  // B += X^T X, b += X^T y (docs/model.md §7)
  linalg::syrk(true, r, m, 1.0, block.xt.data(), r, 1.0, gram.data(), r);
  linalg::gemm(true, false, r, 1, m, 1.0, block.xt.data(), r, block.y.data(), 1, 1.0, xy.data(), 1);
  petsc::log_flops(static_cast<double>(m) * r * (r + 2.0));
  for (double v : block.y) yy += v * v;
  for (int mu = 0; mu < m && keep_per_class > 0; ++mu) {
    int& kept = block.y[static_cast<size_t>(mu)] > 0 ? kept_positive : kept_other;
    if (kept >= keep_per_class) continue;
    ++kept;
    kept_index.push_back(block.local.begin + mu);
    kept_rows.insert(kept_rows.end(), block.row(mu), block.row(mu) + r);
  }
}

void GramSums::reduce(const Comm& comm) {
  const std::size_t n = gram.size();
  gram.push_back(yy);  // one allreduce for all three
  gram.insert(gram.end(), xy.begin(), xy.end());
  comm.sum(gram.data(), gram.size());  // (within the reserved capacity: no reallocation)
  yy = gram[n];
  std::copy(gram.begin() + static_cast<std::ptrdiff_t>(n + 1), gram.end(), xy.begin());
  gram.resize(n);
}

namespace {
GramSums sums_of(const PathInputs& train, const Comm& comm) {
  GramSums s(train.paths, train.dim);
  s.add(train);
  s.reduce(comm);
  return s;
}

// Features [s_k, s_{k+1}) of rank k, s_k = round(n·sqrt(k/ranks)): equal shares of the feature pairs
// j ≤ i (rank k's pairs number about (s_{k+1}² − s_k²)/2).
Range triangle_range(int n, int rank, int ranks) {
  const auto at = [n, ranks](int k) {
    return static_cast<std::int64_t>(std::llround(n * std::sqrt(static_cast<double>(k) / ranks)));
  };
  return Range{at(rank), at(rank + 1)};
}

constexpr int pair_block = 32;  // features per GEMM block of energy_hessian's path Gram entries
}  // namespace

DualKernel::DualKernel(const PathInputs& train, double sigma0_sq, const Comm& comm)
    : DualKernel(train, sums_of(train, comm), sigma0_sq, comm) {}

DualKernel::DualKernel(const PathInputs& train, const GramSums& sums, double sigma0_sq, const Comm& comm)
    : RenormalizedKernel(train, sigma0_sq, comm), r_(train.paths * train.dim) {
  // B = s² Σ_μ x̃_μ x̃_μ^T, b = s Σ_μ y_μ x̃_μ (ξ = s x̃, s = scale_) and y^T y (docs/model.md §7).
  ATTN_REQUIRE(sums.paths == paths_ && sums.dim == dim_, LibraryError, "internal: Gram sums do not match the kernel");
  const std::size_t r = static_cast<std::size_t>(r_);
  gram_.resize(r * r);
  for (std::size_t i = 0; i < r * r; ++i) gram_[i] = scale_ * scale_ * sums.gram[i];
  b_.resize(r);
  for (std::size_t i = 0; i < r; ++i) b_[i] = scale_ * sums.xy[i];
  yy_ = sums.yy;
  keep_rows(sums.kept_index, sums.kept_rows);
  gram_trace_ = Eigen::MatrixXd::Zero(paths_, paths_);
  for (int p = 0; p < paths_; ++p)
    for (int q = 0; q < paths_; ++q)
      for (int i = 0; i < dim_; ++i)
        gram_trace_(p, q) += gram_[static_cast<size_t>(p * dim_ + i) * r + static_cast<size_t>(q * dim_ + i)];
}

void DualKernel::form_lambda(const std::vector<double>& l, Range mine, std::vector<double>& bl,
                             std::vector<double>& lambda) const {
  // B' = B L' (B symmetric: the rows of B' are the rows of B times L') and Λ = L'^T B':
  // Λ[(a,i), σ] = Σ_π L[π,a] B'[(π,i), σ]. One feature i at a time: its H rows of B' (a few kB), then
  // its H rows of Λ, so that B is read once and B' is kept only for the features in `mine`.
  const std::size_t H = static_cast<std::size_t>(paths_), n = static_cast<std::size_t>(dim_), r = H * n;
  const std::size_t m = static_cast<std::size_t>(mine.size()), first = static_cast<std::size_t>(mine.begin);
  lambda.resize(r * r);
  bl.resize(H * m * r);
  std::vector<double> rows(H * r);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t p = 0; p < H; ++p) right_multiply(l.data(), &gram_[(p * n + i) * r], 1, 1.0, &rows[p * r]);
    for (std::size_t a = 0; a < H; ++a) {  // the lower triangle only: Cholesky and eigensolver read no more
      const std::size_t row = a * n + i;
      double* out = &lambda[row * r];
      std::fill(out, out + row + 1, 0.0);
      for (std::size_t p = 0; p < H; ++p) {
        const double w = l[p * H + a];
        const double* in = &rows[p * r];
#pragma omp simd
        for (std::size_t k = 0; k <= row; ++k) out[k] += w * in[k];
      }
    }
    if (i >= first && i < first + m)
      for (std::size_t p = 0; p < H; ++p) std::copy_n(&rows[p * r], r, &bl[(p * m + i - first) * r]);
  }
}

void DualKernel::factor_kernel(const Eigen::MatrixXd& U1, double temperature) {
  ATTN_REQUIRE(U1.rows() == paths_ && U1.cols() == paths_, LibraryError, "internal: U_1 is {}×{}, expected {}×{}",
               U1.rows(), U1.cols(), paths_, paths_);
  ATTN_REQUIRE(temperature > 0, InputError, "the dual kernel form needs Temp > 0 (got {})", temperature);
  U1_ = U1;
  temperature_ = temperature;
  solved_current_ = false;
  const std::size_t r = static_cast<std::size_t>(r_);
  l_ = square_root(U1);
  const Range mine = block_range(dim_, comm_.rank(), comm_.size());
  form_lambda(l_, mine, solved_, chol_);  // this rank's rows of B', solved in place by own_solved_rows()
  for (std::size_t i = 0; i < r; ++i) chol_[i * r + i] += temperature;  // (Cholesky reads one triangle only)
  if (!linalg::cholesky(r_, chol_.data(), r_))
    throw NumericalError(fmt::format(
        "Temp·I + L'^T B L' (r = {}, Temp = {}) is not positive definite in the dual kernel form", r_, temperature));
  const double rd = static_cast<double>(r_);
  petsc::log_flops(3.0 * rd * rd * paths_ + rd * rd * rd / 3.0);  // B L', the lower half of L'^T B', Cholesky
  const double P = static_cast<double>(examples_);
  log_det_ = (P - static_cast<double>(r_)) * std::log(temperature) + linalg::cholesky_logdet(r_, chol_.data(), r_);
  // b̃ = L'^T b ; u = A^{-1} b̃ ; y^T K_T^{-1} y = (y^T y − b̃·u)/Temp
  bt_.assign(r, 0.0);
  linalg::gemm(true, false, paths_, dim_, paths_, 1.0, l_.data(), paths_, b_.data(), dim_, 0.0, bt_.data(), dim_);
  std::vector<double> u = bt_;
  linalg::cholesky_solve(r_, 1, chol_.data(), r_, u.data(), 1);
  double btu = 0;
  for (std::size_t i = 0; i < r; ++i) btu += bt_[i] * u[i];
  data_fit_ = (yy_ - btu) / temperature;
  // c = Ξ^T α = (b − B L' u)/Temp: each rank its rows (π,i), i ∈ mine, of B L' u, gathered
  std::vector<double> blu(solved_.size() / r), all, gathered;
  linalg::gemm(false, false, static_cast<int>(blu.size()), 1, r_, 1.0, solved_.data(), r_, u.data(), 1, 0.0, blu.data(),
               1);
  gather_feature_rows(blu, 1, all, gathered);
  c_.resize(r);
  for (std::size_t i = 0; i < r; ++i) c_[i] = (b_[i] - all[i]) / temperature;
}

const std::vector<double>& DualKernel::own_solved_rows() {
  if (solved_current_) return solved_;
  // Rows (π,i), i ∈ mine, of X = B' L_A^{-T}: X L_A^T = B' row by row, so the rows are independent.
  const Range mine = block_range(dim_, comm_.rank(), comm_.size());
  const int m = paths_ * static_cast<int>(mine.size());
  linalg::lower_transpose_solve_right(m, r_, chol_.data(), r_, solved_.data(), r_);
  petsc::log_flops(static_cast<double>(m) * r_ * r_);
  solved_current_ = true;
  return solved_;
}

void DualKernel::gather_feature_rows(const std::vector<double>& local, std::size_t width, std::vector<double>& out,
                                     std::vector<double>& gathered) const {
  // Each rank holds the rows (π,i), i in its block_range of the features, path-major; the result
  // holds all r rows in the order (π,i) (path slowest).
  comm_.allgather_blocks(local.data(), local.size(), gathered);
  out.resize(gathered.size());
  std::size_t at = 0;
  for (int k = 0; k < comm_.size(); ++k) {
    const Range f = block_range(dim_, k, comm_.size());
    const std::size_t n = static_cast<std::size_t>(f.size()) * width;
    for (int p = 0; p < paths_; ++p, at += n)
      std::copy_n(&gathered[at], n, &out[(static_cast<size_t>(p * dim_) + static_cast<size_t>(f.begin)) * width]);
  }
}

Eigen::MatrixXd DualKernel::energy_gradient() {
  // Ξ^T K_T^{-1} Ξ = (B − B' A^{-1} B'^T)/Temp with B' = B L'; only its block traces are needed:
  // Σ_i (B' A^{-1} B'^T)[(π,i),(π',i)] = Σ_i X[(π,i),:]·X[(π',i),:] with X = B' L_A^{-T} (A = L_A L_A^T).
  // The triangular solve and the traces (r³ of the evaluation's 4r³/3 flops) are split over the
  // ranks by feature i; one allreduce of H×H sums the traces.
  const std::size_t r = static_cast<std::size_t>(r_);
  const Range mine = block_range(dim_, comm_.rank(), comm_.size());
  const int n = static_cast<int>(mine.size());
  const std::vector<double>& x = own_solved_rows();
  // For each feature i the rows (π, i), π = 0..H-1, are n rows apart: one small GEMM per i.
  std::vector<double> g(static_cast<size_t>(paths_ * paths_), 0.0);
  for (int i = 0; i < n; ++i)
    linalg::gemm(false, true, paths_, paths_, r_, 1.0, x.data() + static_cast<size_t>(i) * r, n * r_,
                 x.data() + static_cast<size_t>(i) * r, n * r_, 1.0, g.data(), paths_);
  petsc::log_flops(2.0 * static_cast<double>(r) * paths_ * n * paths_);  // block traces
  comm_.sum(g);
  Eigen::MatrixXd grad = gram_trace_;
  for (int p = 0; p < paths_; ++p)
    for (int q = 0; q < paths_; ++q) grad(p, q) -= g[static_cast<size_t>(p * paths_ + q)];
  grad /= temperature_;
  Eigen::Map<const RowMatrix> c(c_.data(), paths_, dim_);
  grad -= c * c.transpose();
  return 0.5 * (grad + grad.transpose());
}

const std::vector<double>& DualKernel::whole_solved_rows() {
  if (comm_.size() == 1) return own_solved_rows();  // one rank's rows are all of X, in (π,i) order
  gather_feature_rows(own_solved_rows(), static_cast<size_t>(r_), whole_, gathered_);
  return whole_;
}

void DualKernel::path_gram(std::vector<double>& G, std::vector<double>& c) {
  // Ξ^T K_T^{-1} Ξ = (B − X X^T)/Temp with X = B' L_A^{-T} (see energy_gradient): the whole r×r
  // matrix on every rank, one SYRK after gathering X. The Newton steps' Hessian on several ranks does
  // not form it (energy_hessian splits the work by feature pairs).
  const std::vector<double>& x = whole_solved_rows();
  G = gram_;
  linalg::syrk(false, r_, r_, -1.0, x.data(), r_, 1.0, G.data(), r_);
  petsc::log_flops(static_cast<double>(r_) * r_ * r_);
  for (double& v : G) v /= temperature_;
  c = c_;
}

void DualKernel::pair_columns(const std::vector<double>& x, Range features) {
  // Columns (i, j), i ∈ features, j ≤ i, of X2[(a,d),(i,j)] = w G[(a,i),(d,j)] and V[(b,d),(i,j)] =
  // w c_b[i] c_d[j], w = 1/√2 on j = i (so the products below weigh the diagonal ½). G = (B − X X^T)/Temp
  // is formed block by block of features: the rows (a, i0..i1) of every path a, packed together, times
  // the rows (d, 0..i1), one GEMM per d (H GEMMs of H·m rows rather than H² of m: each packs the
  // right-hand rows once for all a).
  const std::size_t H = static_cast<std::size_t>(paths_), n = static_cast<std::size_t>(dim_), r = H * n;
  const std::int64_t lo = features.begin, hi = features.end;
  const std::size_t cols = static_cast<std::size_t>((hi * (hi + 1) - lo * (lo + 1)) / 2);
  std::vector<double>&x2 = pair_x2_, &v = pair_v_, &g = pair_g_, &rows = pair_rows_;
  x2.resize(H * H * cols);  // every column (i, j ≤ i) is written below
  v.resize(H * H * cols);
  const std::size_t block = static_cast<std::size_t>(std::min<std::int64_t>(pair_block, hi - lo));
  g.resize(H * H * block * static_cast<std::size_t>(hi));
  rows.resize(H * block * r);
  const double diagonal = 1.0 / std::sqrt(2.0), inverse_temperature = 1.0 / temperature_;
  for (std::int64_t i0 = lo; i0 < hi; i0 += pair_block) {
    const std::int64_t i1 = std::min<std::int64_t>(hi, i0 + pair_block), m = i1 - i0;
    const std::size_t hm = H * static_cast<std::size_t>(m), gd = hm * static_cast<std::size_t>(i1);
    for (std::size_t a = 0; a < H; ++a)  // rows (a, i0..i1) → packed rows a·m .. (a+1)·m
      std::copy_n(&x[(a * n + static_cast<std::size_t>(i0)) * r], static_cast<std::size_t>(m) * r,
                  &rows[a * static_cast<std::size_t>(m) * r]);
    for (std::size_t d = 0; d < H; ++d)  // g[d] [(a, i − i0) × j]
      linalg::gemm(false, true, static_cast<int>(hm), static_cast<int>(i1), r_, -inverse_temperature, rows.data(), r_,
                   &x[d * n * r], r_, 0.0, &g[d * gd], static_cast<int>(i1));
    petsc::log_flops(2.0 * static_cast<double>(H * H) * static_cast<double>(m * i1) * static_cast<double>(r));
    for (std::int64_t i = i0; i < i1; ++i) {
      const std::size_t col0 = static_cast<std::size_t>((i * (i + 1) - lo * (lo + 1)) / 2);
      for (std::size_t a = 0; a < H; ++a)
        for (std::size_t d = 0; d < H; ++d) {
          const double* gr = &g[d * gd + (a * static_cast<std::size_t>(m) + static_cast<std::size_t>(i - i0)) *
                                             static_cast<std::size_t>(i1)];
          const double* br = &gram_[(a * n + static_cast<std::size_t>(i)) * r + d * n];
          double* out = &x2[(a * H + d) * cols + col0];
          double* vo = &v[(a * H + d) * cols + col0];
          const double cb = c_[a * n + static_cast<std::size_t>(i)];  // row (b = a, d) of V
          const double* cd = &c_[d * n];
#pragma omp simd
          for (std::int64_t j = 0; j <= i; ++j) {
            out[j] = gr[j] + br[j] * inverse_temperature;
            vo[j] = cb * cd[j];
          }
          out[i] *= diagonal;
          vo[i] *= diagonal;
        }
    }
  }
}

Eigen::MatrixXd DualKernel::energy_hessian() {
  // The closed form of path_gram_hessian without forming G on every rank: its two contractions,
  // Y[(b,c),(a,d)] = Σ_ij G[(b,i),(c,j)] G[(a,i),(d,j)] and R[a,b,c,d] = Σ_ij c_b[i] G[(a,i),(c,j)] c_d[j],
  // are sums over feature pairs (i, j). G's symmetry maps the pair (i, j) to (j, i) with the indices
  // permuted, so each rank sums only the pairs j ≤ i of its features (triangle_range; diagonal ½):
  // T = X2 X2^T and S = X2 V^T, and Y = T + T[(c,b),(d,a)], R[a,b,c,d] = S[(a,c),(b,d)] + S[(c,a),(d,b)].
  // About r³/R flops per rank, one allgather of X and one allreduce of 2·H⁴ values. One rank forms G
  // by SYRK instead (the same flops at SYRK's speed: 19 against 23 ms at the Markov shape).
  ATTN_REQUIRE(!chol_.empty(), LibraryError, "internal: energy_hessian() before factor()");
  if (comm_.size() == 1) return RenormalizedKernel::energy_hessian();
  pair_columns(whole_solved_rows(), triangle_range(dim_, comm_.rank(), comm_.size()));
  const std::vector<double>&x2 = pair_x2_, &v = pair_v_;
  const int h2 = paths_ * paths_, cols = static_cast<int>(x2.size()) / h2;
  std::vector<double> ts(2 * static_cast<size_t>(h2 * h2), 0.0);
  if (cols > 0) {
    linalg::syrk(false, h2, cols, 1.0, x2.data(), cols, 0.0, ts.data(), h2);
    linalg::gemm(false, true, h2, h2, cols, 1.0, x2.data(), cols, v.data(), cols, 0.0, ts.data() + h2 * h2, h2);
  }
  comm_.sum(ts);
  const std::size_t H = static_cast<std::size_t>(paths_), H2 = H * H;
  const auto T = [&](std::size_t p, std::size_t q, std::size_t s2, std::size_t t) { return ts[(p * H + q) * H2 + s2 * H + t]; };
  const auto S = [&](std::size_t p, std::size_t q, std::size_t s2, std::size_t t) { return ts[H2 * H2 + (p * H + q) * H2 + s2 * H + t]; };
  const auto R = [&](std::size_t a, std::size_t b, std::size_t c, std::size_t d) { return S(a, c, b, d) + S(c, a, d, b); };
  Eigen::MatrixXd E(h2, h2);
  for (std::size_t a = 0; a < H; ++a)
    for (std::size_t b = 0; b < H; ++b)
      for (std::size_t c = 0; c < H; ++c)
        for (std::size_t d = 0; d < H; ++d)
          E(static_cast<Eigen::Index>(a * H + b), static_cast<Eigen::Index>(c * H + d)) =
              -(T(b, c, a, d) + T(c, b, d, a)) + R(a, b, c, d) + R(b, a, c, d);
  return E;
}

PredictorMoments DualKernel::predict(const PathInputs& set) {
  ATTN_REQUIRE(set.paths == paths_ && set.dim == dim_, InputError,
               "the '{}' set has {} paths × {} features, the training set {} × {}", set.set_name, set.paths, set.dim,
               paths_, dim_);
  const std::int64_t m = set.local.size();
  const std::size_t r = static_cast<std::size_t>(r_);
  PredictorMoments out;
  out.mean.assign(static_cast<size_t>(m), 0.0);
  out.var.assign(static_cast<size_t>(m), 0.0);
  if (m == 0) return out;
  // f̄ = ξ* · (U_1 ⊗ I) c ;  σ² = ξ* (M − M R M) ξ*^T = Temp · v^T A^{-1} v with v = L'^T ξ*.
  Eigen::Map<const RowMatrix> c(c_.data(), paths_, dim_);
  const RowMatrix w = U1_ * c;
  std::vector<double> v(static_cast<size_t>(m) * r);
  right_multiply(l_.data(), set.xt.data(), m, scale_, v.data());
  // Z = L_A^{-1} V^T  [r × m]
  std::vector<double> z(r * static_cast<size_t>(m));
  for (std::int64_t q = 0; q < m; ++q)
    for (std::size_t i = 0; i < r; ++i) z[i * static_cast<size_t>(m) + static_cast<size_t>(q)] = v[static_cast<size_t>(q) * r + i];
  linalg::lower_solve(r_, static_cast<int>(m), chol_.data(), r_, z.data(), static_cast<int>(m));
  petsc::log_flops(static_cast<double>(m) * r * (r + 2.0 * paths_));
  for (std::int64_t q = 0; q < m; ++q) {
    Eigen::Map<const RowMatrix> x(set.row(q), paths_, dim_);
    out.mean[static_cast<size_t>(q)] = scale_ * x.cwiseProduct(w).sum();
    double s = 0;
    for (std::size_t i = 0; i < r; ++i) {
      const double zi = z[i * static_cast<size_t>(m) + static_cast<size_t>(q)];
      s += zi * zi;
    }
    out.var[static_cast<size_t>(q)] = temperature_ * s;
  }
  return out;
}

std::vector<double> DualKernel::alignment(const Eigen::MatrixXd& U1, int k) {
  // The non-zero eigenpairs of K = Ξ L' L'^T Ξ^T come from Λ = L'^T B L' = W D W^T:
  // v_k = Ξ L' w_k / sqrt(d_k), so v_k·y = w_k·b̃ / sqrt(d_k) with b̃ = L'^T b.
  const std::size_t r = static_cast<std::size_t>(r_);
  const std::vector<double> l = square_root(U1);
  std::vector<double> bl, lambda, bt(r);
  form_lambda(l, Range{}, bl, lambda);  // Λ only
  linalg::gemm(true, false, paths_, dim_, paths_, 1.0, l.data(), paths_, b_.data(), dim_, 0.0, bt.data(), dim_);
  std::vector<double> values, vectors;
  linalg::top_symmetric_eigen(r_, lambda.data(), r_, k, values, vectors);
  std::vector<double> overlap;
  const double top = values.empty() ? 0.0 : values.back();
  const std::size_t m = values.size();
  for (int j = static_cast<int>(m) - 1; j >= 0; --j) {
    const double d = values[static_cast<size_t>(j)];
    if (d <= 1e-12 * top) break;  // beyond the kernel's rank
    double dot = 0;
    for (std::size_t i = 0; i < r; ++i) dot += vectors[i * m + static_cast<size_t>(j)] * bt[i];
    overlap.push_back(std::abs(dot) / std::sqrt(d * static_cast<double>(examples_)));
  }
  return overlap;
}

std::vector<double> DualKernel::solve(const std::vector<double>& v) {
  // K_T^{-1} v = (v − Ξ L' A^{-1} L'^T Ξ^T v)/Temp (Woodbury); Ξ^T v is a sum over the ranks' rows.
  const std::int64_t m = train_.local.size();
  ATTN_REQUIRE(static_cast<std::int64_t>(v.size()) == m, LibraryError, "internal: solve() needs this rank's {} rows, got {}",
               m, v.size());
  ATTN_REQUIRE(!chol_.empty(), LibraryError, "internal: solve() before factor()");
  const std::size_t r = static_cast<std::size_t>(r_);
  std::vector<double> t(r, 0.0), lt(r), w(r);
  if (m > 0) linalg::gemm(true, false, r_, 1, static_cast<int>(m), scale_, train_.xt.data(), r_, v.data(), 1, 0.0, t.data(), 1);
  comm_.sum(t);
  linalg::gemm(true, false, paths_, dim_, paths_, 1.0, l_.data(), paths_, t.data(), dim_, 0.0, lt.data(), dim_);
  linalg::cholesky_solve(r_, 1, chol_.data(), r_, lt.data(), 1);
  linalg::gemm(false, false, paths_, dim_, paths_, 1.0, l_.data(), paths_, lt.data(), dim_, 0.0, w.data(), dim_);
  std::vector<double> x = v;
  if (m > 0) linalg::gemm(false, false, static_cast<int>(m), 1, r_, -scale_, train_.xt.data(), r_, w.data(), 1, 1.0, x.data(), 1);
  for (double& e : x) e /= temperature_;
  return x;
}

}  // namespace attnpaths
