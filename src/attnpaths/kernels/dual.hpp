// Dual (feature-space) form of the renormalised kernel (docs/model.md §7), for P > r = N0·H_tot:
// the Gram B = Ξ^T Ξ [r×r], b = Ξ^T y and y^T y are sums over examples (sharded + allreduce), after
// which every evaluation is O(r³), independent of P: the Cholesky of A (r³/3) on every rank, the
// gradient's triangular solve (r³) split over the ranks by feature. With U_1 = L L^T, L' = L ⊗ I,
// Λ = L'^T B L' and A = Temp·I + Λ:
//   K_T^{-1} = (I − Ξ L' A^{-1} L'^T Ξ^T)/Temp                       (Woodbury)
//   log det K_T = (P − r) log Temp + log det A                        (determinant lemma)
#pragma once

#include "attnpaths/core/buffer.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"

namespace attnpaths {

// What the dual form needs of the training set, summed over examples (docs/model.md §7), so that it
// can be accumulated block by block while the data stream past (theory/stream_inputs.hpp): the
// unscaled Gram Σ_μ x̃_μ x̃_μ^T [r×r], Σ_μ y_μ x̃_μ [r] and y^T y. It also keeps the rows of the first
// `keep_per_class` examples with y > 0 and with y ≤ 0 it sees (the kernel figures' subset is chosen
// among them: RenormalizedKernel::kernel_block).
struct GramSums {
  GramSums(int paths, int dim, int keep_per_class = 0);
  void add(const PathInputs& block);  // the local rows of `block`
  void reduce(const Comm& comm);      // sums over the ranks (collective, once)
  int paths, dim, keep_per_class;
  // [r×r] on whole huge pages (a fresh 6.8 MB vector faulted in 4 kB pages cost ~20 ms here), with
  // room for the r + 1 values that reduce() appends for its single allreduce
  Buffer<double> gram;
  std::vector<double> xy;
  double yy = 0;
  std::vector<std::int64_t> kept_index;  // global example indices of the kept rows
  std::vector<double> kept_rows;         // their x̃ rows [kept × r]
  int kept_positive = 0, kept_other = 0;
};

class DualKernel final : public RenormalizedKernel {
 public:
  DualKernel(const PathInputs& train, double sigma0_sq, const Comm& comm);
  // From sums already reduced over the ranks; `train` gives P, the sharding and y (its x̃ may be empty).
  DualKernel(const PathInputs& train, const GramSums& sums, double sigma0_sq, const Comm& comm);
  KernelForm form() const override { return KernelForm::dual; }
  Eigen::MatrixXd energy_gradient() override;
  std::vector<double> solve(const std::vector<double>& v) override;
  void path_gram(std::vector<double>& G, std::vector<double>& c) override;
  // The energy's Hessian (the closed form of path_gram_hessian) from the entries of G its feature
  // pairs need, split over the ranks by pairs of features: no rank forms the whole path Gram.
  Eigen::MatrixXd energy_hessian() override;
  // Cholesky of A (r³/3) + the gradient's solve (r³); the path Gram's SYRK (r³): its solve is the
  // gradient's, kept (the minimiser asks for the Hessian where it has just taken the gradient).
  double evaluation_flops() const override { return 4.0 / 3.0 * r_ * r_ * static_cast<double>(r_); }
  double path_gram_flops() const override { return static_cast<double>(r_) * r_ * static_cast<double>(r_); }
  PredictorMoments predict(const PathInputs& set) override;
  std::vector<double> alignment(const Eigen::MatrixXd& U1, int k) override;
  bool alignment_is_local() const override { return true; }  // from the replicated B

 private:
  void factor_kernel(const Eigen::MatrixXd& U1, double temperature) override;
  // This rank's rows of X = B' L_A^{-T} (A = L_A L_A^T) at the last factor(): the rows (π,i), i ∈ its
  // features, by a triangular solve of those rows of B' only, in place in solved_. Solved by the first
  // of energy_gradient() and path_gram() after it and kept for the other (a Newton step needs both).
  const std::vector<double>& own_solved_rows();
  // All of X [r×r, rows (π,i)] on every rank: own_solved_rows() on one rank, else gathered into whole_.
  const std::vector<double>& whole_solved_rows();
  // energy_hessian's columns (i, j ≤ i, i ∈ features) of X2 [(a,d) × pairs] and V [(b,d) × pairs] from
  // the whole X = B' L_A^{-T} [r×r], into pair_x2_ and pair_v_.
  void pair_columns(const std::vector<double>& x, Range features);
  // The lower triangle of Λ = L'^T B L' [r×r, row-major; the rest untouched] for L [H×H, row-major],
  // and the rows (π,i), i ∈ mine (a range of features), of B' = B L', path-major [H·|mine| × r] (the
  // layout of the solved rows).
  void form_lambda(const std::vector<double>& l, Range mine, std::vector<double>& bl,
                   std::vector<double>& lambda) const;
  // Assembles every rank's rows (π,i) of its features (of `width` values each, path-major; ranks own
  // block_range(N0, rank, ranks) of the features) into the full [r × width] `out` in (π,i) order, on
  // every rank; `gathered` receives the blocks in rank order.
  void gather_feature_rows(const std::vector<double>& local, std::size_t width, std::vector<double>& out,
                           std::vector<double>& gathered) const;

  int r_;
  std::vector<double> gram_, b_;  // B [r×r], b [r]  (scaled inputs)
  double yy_ = 0;
  Eigen::MatrixXd gram_trace_;    // Σ_i B[(π,i),(π',i)]
  // state of the last factor()
  std::vector<double> l_;         // L, row-major H×H
  std::vector<double> chol_;      // Cholesky factor of A = Temp·I + L'^T B L'
  std::vector<double> bt_;        // b̃ = L'^T b
  std::vector<double> c_;         // Ξ^T α
  // this rank's rows (π,i), i ∈ its features [H·|mine| × r]: of B' = B L' after factor(), of X once
  // own_solved_rows() has solved them (solved_current_)
  std::vector<double> solved_;
  bool solved_current_ = false;
  // Work space of the Newton steps, kept between them: the whole X and its gathered blocks [r×r each],
  // pair_columns' X2 and V, a block of G and its packed rows of X. Fresh buffers of these sizes cost
  // more in first-touch page faults than the work itself (P = 1e4 on 2 ranks: the gather took 6.8 ms,
  // not 0.4).
  std::vector<double> whole_, gathered_, pair_x2_, pair_v_, pair_g_, pair_rows_;
};

}  // namespace attnpaths
