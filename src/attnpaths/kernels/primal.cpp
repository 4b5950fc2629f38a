#include "attnpaths/kernels/primal.hpp"

#include <fmt/format.h>
#include <petsc/private/petscscalapack.h>
#include <slepceps.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/linalg.hpp"

// ScaLAPACK's inverse from a Cholesky factor (not declared by PETSc's private header).
#define SCALAPACKpotri_ PETSCSCALAPACK(potri, POTRI)
extern "C" void SCALAPACKpotri_(const char* uplo, PetscBLASInt* n, PetscScalar* a, PetscBLASInt* ia, PetscBLASInt* ja,
                                PetscBLASInt* desca, PetscBLASInt* info);

namespace attnpaths {

namespace {

// Local column-major array of a dense matrix, restored on destruction.
class DenseArray {
 public:
  explicit DenseArray(Mat m) : m_(m) {
    PETSC_CALL(MatDenseGetArray(m_, &a_));
    PETSC_CALL(MatDenseGetLDA(m_, &lda_));
  }
  ~DenseArray() { MatDenseRestoreArray(m_, &a_); }
  DenseArray(const DenseArray&) = delete;
  DenseArray& operator=(const DenseArray&) = delete;
  double* data() const { return a_; }
  int lda() const { return static_cast<int>(lda_); }

 private:
  Mat m_;
  double* a_ = nullptr;
  PetscInt lda_ = 0;
};

std::size_t sz(std::int64_t n) { return static_cast<std::size_t>(n); }

std::vector<double> row_major(const Eigen::MatrixXd& U) {
  std::vector<double> u(sz(U.size()));
  for (Eigen::Index i = 0; i < U.rows(); ++i)
    for (Eigen::Index j = 0; j < U.cols(); ++j) u[sz(i * U.cols() + j)] = U(i, j);
  return u;
}

}  // namespace

PrimalKernel::PrimalKernel(const PathInputs& train, double sigma0_sq, const Comm& comm)
    : RenormalizedKernel(train, sigma0_sq, comm) {
  const Range expected = block_range(train.count, comm.rank(), comm.size());
  ATTN_REQUIRE(expected.begin == train.local.begin && expected.end == train.local.end, LibraryError,
               "internal: training rows on rank {} are [{}, {}), the primal kernel needs the block layout [{}, {})",
               comm.rank(), train.local.begin, train.local.end, expected.begin, expected.end);
  const std::int64_t r = features();
  ATTN_REQUIRE(examples_ * r < (std::int64_t{1} << 31), InputError,
               "the primal kernel form keeps Ξ (P·r = {}·{} values) on every rank, more than it supports; use --form "
               "dual",
               examples_, r);
  block_ = (examples_ + comm.size() - 1) / comm.size();
  xi_local_ = train.xt;
  for (double& v : xi_local_) v *= scale_;
  xi_all_ = comm.allgather_blocks(xi_local_);
}

void PrimalKernel::contract(const Eigen::MatrixXd& U, const double* x, std::int64_t rows, double scale,
                            double* out) const {
  right_multiply(row_major(U).data(), x, rows, scale, out);
}

void PrimalKernel::assemble(const Eigen::MatrixXd& U, double shift, petsc::Matrix& kernel) {
  const std::int64_t m = train_.local.size(), P = examples_, ranks = comm_.size();
  const int r = static_cast<int>(features());
  const bool created = !kernel;
  if (created)
    PETSC_CALL(MatCreateDense(comm_.get(), static_cast<PetscInt>(block_), static_cast<PetscInt>(block_),
                              static_cast<PetscInt>(block_ * ranks), static_cast<PetscInt>(block_ * ranks), nullptr,
                              kernel.out()));
  scratch_.resize(sz(m) * sz(r));
  contract(U, xi_local_.data(), m, 1.0, scratch_.data());
  {
    DenseArray k(kernel.get());
    ATTN_REQUIRE(k.lda() == block_, LibraryError, "internal: unexpected leading dimension {}", k.lda());
    // The real block is overwritten below; the padding (zero) is written once.
    if (created) std::fill(k.data(), k.data() + sz(block_) * sz(block_ * ranks), 0.0);
    // Local rows, column-major (lda = b) == row-major [P × b]:  K_loc^T = Ξ_all (Ξ_loc (U⊗I))^T
    if (m > 0)
      linalg::gemm(false, true, static_cast<int>(P), static_cast<int>(m), r, 1.0, xi_all_.data(), r, scratch_.data(),
                   r, 0.0, k.data(), static_cast<int>(block_));
    const std::int64_t first = comm_.rank() * block_;
    for (std::int64_t i = 0; i < block_; ++i) {  // + shift·I (padded rows: exactly shift)
      double& d = k.data()[sz((first + i) * block_ + i)];
      d = (i < m ? d : 0.0) + shift;
    }
  }
  PETSC_CALL(MatAssemblyBegin(kernel.get(), MAT_FINAL_ASSEMBLY));
  PETSC_CALL(MatAssemblyEnd(kernel.get(), MAT_FINAL_ASSEMBLY));
}

void PrimalKernel::factor(const Eigen::MatrixXd& U1, double temperature) {
  ATTN_REQUIRE(U1.rows() == paths_ && U1.cols() == paths_, LibraryError, "internal: U_1 is {}×{}, expected {}×{}",
               U1.rows(), U1.cols(), paths_, paths_);
  U1_ = U1;
  temperature_ = temperature;
  inverse_current_ = false;
  // 1. K_T = Ξ (U_1 ⊗ I) Ξ^T + Temp·I  (docs/model.md §3.1)
  assemble(U1, temperature, kernel_);
  const bool first = !factor_;
  PETSC_CALL(MatConvert(kernel_.get(), MATSCALAPACK, first ? MAT_INITIAL_MATRIX : MAT_REUSE_MATRIX, kernel_sl_.raw()));
  // 2. Cholesky (ScaLAPACK pdpotrf, lower factor)
  MatFactorInfo info;
  PETSC_CALL(MatFactorInfoInitialize(&info));
  if (first) {
    PETSC_CALL(MatGetFactor(kernel_sl_.get(), MATSOLVERSCALAPACK, MAT_FACTOR_CHOLESKY, factor_.out()));
    PETSC_CALL(MatCholeskyFactorSymbolic(factor_.get(), kernel_sl_.get(), nullptr, &info));
  }
  if (MatCholeskyFactorNumeric(factor_.get(), kernel_sl_.get(), &info) != 0)
    throw NumericalError(fmt::format(
        "the kernel K(U_1) + Temp·I (P = {}, Temp = {}) is not positive definite: ScaLAPACK Cholesky failed",
        examples_, temperature));
  // 3. log det K_T = 2 Σ log L_ii, read off the factor's local block-cyclic array; the padded rows
  //    contribute log Temp each.
  {
    const auto* a = static_cast<const Mat_ScaLAPACK*>(factor_.get()->data);
    double local = 0;
    for (PetscInt i = 0; i < a->M; ++i) {
      const PetscInt brow = i / a->mb, bcol = i / a->nb;
      if ((brow + a->rsrc) % a->grid->nprow != a->grid->myrow || (bcol + a->csrc) % a->grid->npcol != a->grid->mycol)
        continue;
      const PetscInt lr = (brow / a->grid->nprow) * a->mb + i % a->mb;
      const PetscInt lc = (bcol / a->grid->npcol) * a->nb + i % a->nb;
      local += std::log(a->loc[lr + lc * a->lld]);
    }
    const double padding = static_cast<double>(a->M) - static_cast<double>(examples_);
    log_det_ = 2.0 * comm_.sum(local) - padding * std::log(temperature);
  }
  // 4. α = K_T^{-1} y, the data fit y^T α, and c = Ξ^T α.
  if (first) {
    PETSC_CALL(MatCreateVecs(factor_.get(), alpha_.out(), labels_.out()));
    PetscInt lo = 0, hi = 0;
    PETSC_CALL(VecGetOwnershipRange(labels_.get(), &lo, &hi));
    ATTN_REQUIRE(lo == comm_.rank() * block_ && hi - lo == block_, LibraryError,
                 "internal: ScaLAPACK vector layout [{}, {}) differs from the padded example layout", lo, hi);
    PETSC_CALL(VecSet(labels_.get(), 0.0));
    double* y = nullptr;
    PETSC_CALL(VecGetArray(labels_.get(), &y));
    std::copy(train_.y.begin(), train_.y.end(), y);
    PETSC_CALL(VecRestoreArray(labels_.get(), &y));
  }
  PETSC_CALL(MatSolve(factor_.get(), labels_.get(), alpha_.get()));
  PETSC_CALL(VecDot(labels_.get(), alpha_.get(), &data_fit_));
  const std::int64_t m = train_.local.size();
  const int r = static_cast<int>(features());
  c_.assign(sz(r), 0.0);
  {
    const double* alpha = nullptr;
    PETSC_CALL(VecGetArrayRead(alpha_.get(), &alpha));
    if (m > 0) linalg::gemm(true, false, r, 1, static_cast<int>(m), 1.0, xi_local_.data(), r, alpha, 1, 0.0, c_.data(), 1);
    PETSC_CALL(VecRestoreArrayRead(alpha_.get(), &alpha));
  }
  comm_.sum(c_);
}

void PrimalKernel::compute_inverse() {
  // K_T^{-1} from the Cholesky factor with ScaLAPACK pdpotri (≈ 2P³/3 flops; the lower triangle),
  // mirrored into the upper triangle through a block-cyclic transpose (pdtran), then redistributed
  // to the example rows.
  ATTN_REQUIRE(static_cast<bool>(factor_), LibraryError, "internal: K_T^{-1} requested before factor()");
  if (inverse_current_) return;
  const bool first = !inverse_sl_;
  if (first) {
    PETSC_CALL(MatDuplicate(kernel_sl_.get(), MAT_DO_NOT_COPY_VALUES, inverse_sl_.out()));
    PETSC_CALL(MatDuplicate(kernel_sl_.get(), MAT_DO_NOT_COPY_VALUES, transposed_sl_.out()));
  }
  const auto* f = static_cast<const Mat_ScaLAPACK*>(factor_.get()->data);
  auto* a = static_cast<Mat_ScaLAPACK*>(inverse_sl_.get()->data);
  auto* t = static_cast<Mat_ScaLAPACK*>(transposed_sl_.get()->data);
  ATTN_REQUIRE(f->lld == a->lld && f->locc == a->locc && f->mb == a->mb && f->nb == a->nb, LibraryError,
               "internal: the Cholesky factor and the inverse have different ScaLAPACK distributions");
  std::copy_n(f->loc, sz(f->lld) * sz(f->locc), a->loc);
  PetscBLASInt one = 1, info = 0, n = a->M;
  SCALAPACKpotri_("L", &n, a->loc, &one, &one, a->desc, &info);
  if (info != 0) throw NumericalError(fmt::format("ScaLAPACK pdpotri failed (info = {}) inverting K_T", info));
  PetscScalar sone = 1.0, zero = 0.0;
  PBLAStran_(&n, &n, &sone, a->loc, &one, &one, a->desc, &zero, t->loc, &one, &one, t->desc);  // t = a^T
  const PetscBLASInt rows = a->grid->nprow, cols = a->grid->npcol;
  for (PetscBLASInt lc = 0; lc < a->locc; ++lc) {
    const PetscBLASInt j = ((lc / a->nb) * cols + (a->grid->mycol - a->csrc + cols) % cols) * a->nb + lc % a->nb;
    for (PetscBLASInt lr = 0; lr < a->locr; ++lr) {
      const PetscBLASInt i = ((lr / a->mb) * rows + (a->grid->myrow - a->rsrc + rows) % rows) * a->mb + lr % a->mb;
      if (i < j) a->loc[lr + lc * a->lld] = t->loc[lr + lc * a->lld];  // upper from the lower triangle
    }
  }
  PETSC_CALL(MatConvert(inverse_sl_.get(), MATDENSE, first ? MAT_INITIAL_MATRIX : MAT_REUSE_MATRIX, inverse_.raw()));
  inverse_current_ = true;
}

Eigen::MatrixXd PrimalKernel::energy_gradient() {
  // ∂E/∂U_1[π,π'] = Σ_{μ,i} Ξ[μ,(π,i)] (K_T^{-1} Ξ)[μ,(π',i)] − Σ_i c[(π,i)] c[(π',i)]   (docs/model.md §3.4)
  compute_inverse();
  const std::int64_t m = train_.local.size(), P = examples_;
  const int r = static_cast<int>(features());
  scratch_.resize(sz(m) * sz(r));
  double* y = scratch_.data();  // (K_T^{-1} Ξ)[local rows]
  {
    DenseArray inv(inverse_.get());  // column-major [b × P_pad] == row-major [P_pad × b]
    if (m > 0)
      linalg::gemm(true, false, static_cast<int>(m), r, static_cast<int>(P), 1.0, inv.data(), inv.lda(),
                   xi_all_.data(), r, 0.0, y, r);
  }
  std::vector<double> g(sz(paths_) * sz(paths_), 0.0);
  add_block_traces(xi_local_.data(), y, m, g.data());
  comm_.sum(g);
  Eigen::MatrixXd grad = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      g.data(), paths_, paths_);
  Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> c(c_.data(), paths_, dim_);
  grad -= c * c.transpose();
  return 0.5 * (grad + grad.transpose());
}

void PrimalKernel::path_gram(std::vector<double>& G, std::vector<double>& c) {
  // Ξ^T K_T^{-1} Ξ = Σ_ranks Ξ_loc^T (K_T^{-1} Ξ)[local rows]
  compute_inverse();
  const std::int64_t m = train_.local.size(), P = examples_;
  const int r = static_cast<int>(features());
  scratch_.resize(sz(m) * sz(r));
  G.assign(sz(r) * sz(r), 0.0);
  if (m > 0) {
    DenseArray inv(inverse_.get());
    linalg::gemm(true, false, static_cast<int>(m), r, static_cast<int>(P), 1.0, inv.data(), inv.lda(),
                 xi_all_.data(), r, 0.0, scratch_.data(), r);
    linalg::gemm(true, false, r, r, static_cast<int>(m), 1.0, xi_local_.data(), r, scratch_.data(), r, 0.0, G.data(), r);
  }
  comm_.sum(G);
  c = c_;
}

PredictorMoments PrimalKernel::predict(const PathInputs& set) {
  ATTN_REQUIRE(static_cast<bool>(factor_), LibraryError, "internal: predict() before factor()");
  ATTN_REQUIRE(set.paths == paths_ && set.dim == dim_, InputError,
               "the '{}' set has {} paths × {} features, the training set {} × {}", set.set_name, set.paths, set.dim,
               paths_, dim_);
  compute_inverse();
  const std::int64_t m = set.local.size(), P = examples_, m_train = train_.local.size();
  const int r = static_cast<int>(features());
  PredictorMoments out;
  out.mean.assign(sz(m), 0.0);
  out.var.assign(sz(m), 0.0);
  // ξ* (U_1 ⊗ I) for the local test rows: the mean is ·c, K** is ·ξ*  (no communication).
  std::vector<double> contracted(sz(m) * sz(r));
  contract(U1_, set.xt.data(), m, scale_, contracted.data());
  for (std::int64_t q = 0; q < m; ++q) {
    const double* a = contracted.data() + sz(q) * sz(r);
    const double* x = set.row(q);
    double mean = 0, kss = 0;
    for (int j = 0; j < r; ++j) {
      mean += a[j] * c_[sz(j)];
      kss += a[j] * scale_ * x[j];
    }
    out.mean[sz(q)] = mean;  // f̄ = y^T K_T^{-1} k* = ξ* (U_1 ⊗ I) Ξ^T α
    out.var[sz(q)] = kss;    // K**
  }
  // σ² = K** − k*^T K_T^{-1} k*, k*[μ] = ξ* (U_1⊗I) ξ_μ^T, in chunks of test examples: each rank
  // computes k* for its own test rows, the chunk is gathered, and every rank contracts it with its
  // rows of K_T^{-1}; the partial quadratic forms are summed over the ranks.
  const std::int64_t chunk = 512;
  const Range mine = set.local;
  DenseArray inv(inverse_.get());
  for (std::int64_t q0 = 0; q0 < set.count; q0 += chunk) {
    const std::int64_t q1 = std::min(set.count, q0 + chunk), n = q1 - q0;
    const std::int64_t a = std::max(q0, mine.begin), b = std::min(q1, mine.end), own = std::max<std::int64_t>(0, b - a);
    std::vector<double> kstar(sz(own) * sz(P));
    if (own > 0)
      linalg::gemm(false, true, static_cast<int>(own), static_cast<int>(P), r, 1.0,
                   contracted.data() + sz(a - mine.begin) * sz(r), r, xi_all_.data(), r, 0.0, kstar.data(),
                   static_cast<int>(P));
    const std::vector<double> all = comm_.allgather_blocks(kstar);  // [n × P], rows in global order
    std::vector<double> w(sz(m_train) * sz(n), 0.0);                 // (K_T^{-1})_loc k*^T  [m × n]
    if (m_train > 0)
      linalg::gemm(true, true, static_cast<int>(m_train), static_cast<int>(n), static_cast<int>(P), 1.0, inv.data(),
                   inv.lda(), all.data(), static_cast<int>(P), 0.0, w.data(), static_cast<int>(n));
    std::vector<double> quad(sz(n), 0.0);
    const std::int64_t first = train_.local.begin;
    for (std::int64_t mu = 0; mu < m_train; ++mu)
      for (std::int64_t q = 0; q < n; ++q) quad[sz(q)] += all[sz(q * P + first + mu)] * w[sz(mu * n + q)];
    comm_.sum(quad);
    for (std::int64_t q = a; q < b; ++q) out.var[sz(q - mine.begin)] -= quad[sz(q - q0)];
  }
  return out;
}

std::vector<double> PrimalKernel::alignment(const Eigen::MatrixXd& U1, int k) {
  // Top-k eigenpairs of K(U_1) (no Temp) with SLEPc's Krylov–Schur on the distributed dense matrix.
  petsc::Matrix kernel;
  assemble(U1, 0.0, kernel);
  const int nev = static_cast<int>(std::min<std::int64_t>(k, examples_));
  EPS eps = nullptr;
  PETSC_CALL(EPSCreate(comm_.get(), &eps));
  struct EpsGuard {
    EPS* e;
    ~EpsGuard() { EPSDestroy(e); }
  } guard{&eps};
  PETSC_CALL(EPSSetOperators(eps, kernel.get(), nullptr));
  PETSC_CALL(EPSSetProblemType(eps, EPS_HEP));
  PETSC_CALL(EPSSetWhichEigenpairs(eps, EPS_LARGEST_REAL));
  PETSC_CALL(EPSSetDimensions(eps, nev, PETSC_DEFAULT, PETSC_DEFAULT));
  PETSC_CALL(EPSSetTolerances(eps, 1e-12, 1000));
  PETSC_CALL(EPSSetOptionsPrefix(eps, "alignment_"));
  PETSC_CALL(EPSSetFromOptions(eps));
  PETSC_CALL(EPSSolve(eps));
  PetscInt nconv = 0;
  PETSC_CALL(EPSGetConverged(eps, &nconv));
  ATTN_REQUIRE(nconv >= nev, NumericalError, "alignment: SLEPc converged {} of the {} leading eigenpairs of K(U_1)",
               nconv, nev);
  petsc::Vector v, y;
  PETSC_CALL(MatCreateVecs(kernel.get(), v.out(), y.out()));
  PETSC_CALL(VecSet(y.get(), 0.0));  // padded rows
  {
    double* a = nullptr;
    PETSC_CALL(VecGetArray(y.get(), &a));
    std::copy(train_.y.begin(), train_.y.end(), a);
    PETSC_CALL(VecRestoreArray(y.get(), &a));
  }
  std::vector<double> overlap;
  for (int j = 0; j < nev; ++j) {
    PetscScalar lr = 0, li = 0;
    PETSC_CALL(EPSGetEigenpair(eps, j, &lr, &li, v.get(), nullptr));
    PetscScalar dot = 0;
    PetscReal norm = 0;
    PETSC_CALL(VecDot(v.get(), y.get(), &dot));
    PETSC_CALL(VecNorm(v.get(), NORM_2, &norm));
    overlap.push_back(std::abs(dot) / norm / std::sqrt(static_cast<double>(examples_)));
  }
  return overlap;
}

}  // namespace attnpaths
