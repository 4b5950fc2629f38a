#include "attnpaths/prune/heads.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/rng.hpp"

namespace attnpaths {

namespace {

// passes[k][π] = path π goes through head k (heads layer-major).
std::vector<std::vector<bool>> paths_through(const std::vector<HeadRef>& heads, const AttentionSpec& attention) {
  std::vector<std::vector<bool>> passes;
  for (const auto& [l, h] : heads) {
    std::vector<bool> p(static_cast<std::size_t>(attention.paths()));
    for (int pi = 0; pi < attention.paths(); ++pi) p[static_cast<std::size_t>(pi)] = attention.head_on_path(pi, l - 1) == h;
    passes.push_back(std::move(p));
  }
  return passes;
}

std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<std::size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    for (std::size_t k = i; k <= j; ++k) rank[idx[k]] = 0.5 * double(i + j) + 1.0;  // mean of ranks i+1 .. j+1
    i = j + 1;
  }
  return rank;
}

}  // namespace

std::vector<HeadRef> all_heads(const AttentionSpec& attention) {
  std::vector<HeadRef> heads;
  for (int l = 1; l <= attention.depth(); ++l)
    for (int h = 0; h < attention.heads()[static_cast<std::size_t>(l - 1)]; ++h) heads.emplace_back(l, h);
  return heads;
}

// score(l,h) = Σ_{ππ'} S_ππ' [π ∋ (l,h) ∨ π' ∋ (l,h)],  S = (|U_1| + |U_1|ᵀ)/2   (docs/model.md §6)
HeadScores head_scores(const Eigen::MatrixXd& U1, const AttentionSpec& attention) {
  const int H = attention.paths();
  ATTN_REQUIRE(U1.rows() == H && U1.cols() == H, InputError, "head scores: U_1 is {}×{}, the attention has {} paths",
               U1.rows(), U1.cols(), H);
  const Eigen::MatrixXd S = 0.5 * (U1.cwiseAbs() + U1.cwiseAbs().transpose());
  HeadScores s;
  s.heads = all_heads(attention);
  const auto passes = paths_through(s.heads, attention);
  for (const auto& p : passes) {
    double sum = 0;
    for (int a = 0; a < H; ++a)
      for (int b = 0; b < H; ++b)
        if (p[static_cast<std::size_t>(a)] || p[static_cast<std::size_t>(b)]) sum += S(a, b);
    s.raw.push_back(sum);
  }
  const double top = *std::max_element(s.raw.begin(), s.raw.end());
  ATTN_REQUIRE(top > 0 && std::isfinite(top), NumericalError, "head scores: U_1 is zero or not finite");
  for (double r : s.raw) s.score.push_back(r / top);
  std::vector<std::size_t> idx(s.heads.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return s.score[a] < s.score[b]; });
  for (auto i : idx) s.ascending.push_back(s.heads[i]);
  return s;
}

Eigen::MatrixXd pruned_order_parameter(const Eigen::MatrixXd& U1, const AttentionSpec& attention,
                                       const std::vector<HeadRef>& removed) {
  Eigen::MatrixXd U = U1;
  for (const auto& p : paths_through(removed, attention))
    for (int pi = 0; pi < attention.paths(); ++pi)
      if (p[static_cast<std::size_t>(pi)]) {
        U.row(pi).setZero();
        U.col(pi).setZero();
      }
  return U;
}

std::vector<HeadRef> removal_sequence(const std::vector<HeadRef>& order, const AttentionSpec& attention) {
  std::vector<int> left = attention.heads();
  std::vector<HeadRef> seq;
  for (const auto& head : order) {
    int& n = left[static_cast<std::size_t>(head.first - 1)];
    if (n <= 1) continue;
    --n;
    seq.push_back(head);
  }
  return seq;
}

std::vector<HeadRef> random_order(std::vector<HeadRef> heads, std::uint64_t seed, std::uint64_t r) {
  RandomStream rng(seed, RngDomain::pruning_order, r);
  for (std::size_t i = heads.size(); i > 1; --i) {
    const auto j = std::min<std::size_t>(i - 1, static_cast<std::size_t>(rng.uniform() * double(i)));
    std::swap(heads[i - 1], heads[j]);
  }
  return heads;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  ATTN_REQUIRE(a.size() == b.size() && a.size() >= 2, LibraryError, "spearman: {} and {} values", a.size(), b.size());
  const auto ra = average_ranks(a), rb = average_ranks(b);
  const double n = double(a.size());
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n, mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  if (saa == 0 || sbb == 0) return std::nan("");
  return sab / std::sqrt(saa * sbb);
}

}  // namespace attnpaths
