#include "attnpaths/theory/action.hpp"

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/linalg.hpp"

namespace attnpaths {

Action::Action(const Architecture& arch, RenormalizedKernel& kernel, double temperature)
    : arch_(arch), kernel_(kernel), temperature_(temperature) {
  ATTN_REQUIRE(temperature > 0, InputError, "the temperature must be positive (got {})", temperature);
  ATTN_REQUIRE(arch.paths() == kernel.paths(), InputError, "the network has {} paths but the data's attention has {}",
               arch.paths(), kernel.paths());
}

ActionValue Action::evaluate(OrderParameters& op, bool with_gradient) {
  op.Ua = closed_form_Ua(arch_, op.U.back());
  const double norm = 1.0 / arch_.max_width();
  ActionValue v;
  kernel_.factor(op.U1(), temperature_);
  v.energy = (kernel_.log_det() + kernel_.data_fit()) * norm;
  v.entropy = entropy(arch_, op, with_gradient ? &v.gradient : nullptr) * norm;
  v.action = v.energy + v.entropy;
  if (with_gradient) {
    v.gradient.front() += kernel_.energy_gradient();
    for (auto& g : v.gradient) {
      g *= norm;
      v.grad_max = std::max(v.grad_max, g.cwiseAbs().maxCoeff());
    }
  }
  return v;
}

Eigen::MatrixXd Action::energy_hessian() {
  std::vector<double> G, c;
  kernel_.path_gram(G, c);
  return attnpaths::energy_hessian(G, c, kernel_.paths(), static_cast<int>(kernel_.features() / kernel_.paths())) /
         arch_.max_width();
}

Eigen::MatrixXd energy_hessian(const std::vector<double>& G, const std::vector<double>& c, int paths, int dim) {
  const std::size_t H = static_cast<std::size_t>(paths), n = static_cast<std::size_t>(dim), r = H * n;
  const int h = paths, h2 = paths * paths, ri = static_cast<int>(r);
  ATTN_REQUIRE(G.size() == r * r && c.size() == r, LibraryError, "internal: path Gram of the wrong size");
  // tr(G_bc G_da) = Σ_ij X[(b,c),(i,j)] X[(a,d),(i,j)] with X[(a,d),(i,j)] = G[(a,i),(d,j)]: Y = X X^T.
  std::vector<double> X(r * r), Y(H * H * H * H);
  for (std::size_t a = 0; a < H; ++a)
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t d = 0; d < H; ++d)
        std::copy_n(&G[(a * n + i) * r + d * n], n, &X[((a * H + d) * n + i) * n]);
  linalg::syrk(false, h2, static_cast<int>(n * n), 1.0, X.data(), static_cast<int>(n * n), 0.0, Y.data(), h2);
  // R[a,b,c,d] = c_b^T G_ac c_d: GC[(a,i,c),d] = Σ_j G[(a,i),(c,j)] C[j,d] (C[j,d] = c_d[j]), then C^T GC_a.
  std::vector<double> C(n * H), GC(r * H * H), R(H * H * H * H);
  for (std::size_t d = 0; d < H; ++d)
    for (std::size_t j = 0; j < n; ++j) C[j * H + d] = c[d * n + j];
  linalg::gemm(false, false, ri * h, h, dim, 1.0, G.data(), dim, C.data(), h, 0.0, GC.data(), h);
  for (std::size_t a = 0; a < H; ++a)
    linalg::gemm(true, false, h, h2, dim, 1.0, C.data(), h, &GC[a * n * H * H], h2, 0.0, &R[a * H * H * H], h2);
  Eigen::MatrixXd E(h2, h2);
  const auto at = [H](std::size_t a, std::size_t b, std::size_t c2, std::size_t d) { return ((a * H + b) * H + c2) * H + d; };
  for (std::size_t a = 0; a < H; ++a)
    for (std::size_t b = 0; b < H; ++b)
      for (std::size_t c2 = 0; c2 < H; ++c2)
        for (std::size_t d = 0; d < H; ++d)
          E(static_cast<Eigen::Index>(a * H + b), static_cast<Eigen::Index>(c2 * H + d)) =
              -Y[(b * H + c2) * H * H + a * H + d] + R[at(a, b, c2, d)] + R[at(b, a, c2, d)];
  return E;
}

}  // namespace attnpaths
