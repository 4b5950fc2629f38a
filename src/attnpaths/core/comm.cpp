#include "attnpaths/core/comm.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "attnpaths/core/error.hpp"

namespace attnpaths {

Range block_range(std::int64_t n, int part, int parts) {
  // Equal blocks of ceil(n/parts): PETSc's PetscSplitOwnershipEqual and ScaLAPACK's 1-D block
  // layout, so that distributed dense matrices convert to MATSCALAPACK without reshuffling.
  const std::int64_t block = (n + parts - 1) / parts;
  return {std::min(n, part * block), std::min(n, (part + 1) * block)};
}

Comm::Comm(MPI_Comm c, bool owned) : comm_(c), owned_(owned) {
  MPI_CALL(MPI_Comm_rank(comm_, &rank_));
  MPI_CALL(MPI_Comm_size(comm_, &size_));
}

Comm::~Comm() {
  if (owned_ && comm_ != MPI_COMM_NULL) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
}

Comm::Comm(Comm&& o) noexcept
    : comm_(std::exchange(o.comm_, MPI_COMM_NULL)), owned_(std::exchange(o.owned_, false)), rank_(o.rank_),
      size_(o.size_) {}

Comm& Comm::operator=(Comm&& o) noexcept {
  if (this != &o) {
    Comm tmp(std::move(*this));
    comm_ = std::exchange(o.comm_, MPI_COMM_NULL);
    owned_ = std::exchange(o.owned_, false);
    rank_ = o.rank_;
    size_ = o.size_;
  }
  return *this;
}

Comm Comm::split(int color, int key) const {
  MPI_Comm c;
  MPI_CALL(MPI_Comm_split(comm_, color, key, &c));
  return Comm(c, true);
}

void Comm::barrier() const { MPI_CALL(MPI_Barrier(comm_)); }

void Comm::sum(double* data, std::size_t n) const {
  if (size_ == 1 || n == 0) return;
  MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_DOUBLE, MPI_SUM, comm_));
}

void Comm::bit_or(std::vector<std::uint64_t>& v) const {
  if (size_ == 1 || v.empty()) return;
  MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_UINT64_T, MPI_BOR, comm_));
}

double Comm::sum(double x) const {
  sum(&x, 1);
  return x;
}

std::int64_t Comm::sum(std::int64_t x) const {
  MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_INT64_T, MPI_SUM, comm_));
  return x;
}

double Comm::max(double x) const {
  MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_MAX, comm_));
  return x;
}

std::int64_t Comm::max(std::int64_t x) const {
  MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_INT64_T, MPI_MAX, comm_));
  return x;
}

std::int64_t Comm::min(std::int64_t x) const {
  MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_INT64_T, MPI_MIN, comm_));
  return x;
}

bool Comm::any(bool flag) const {
  int f = flag ? 1 : 0;
  MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, &f, 1, MPI_INT, MPI_LOR, comm_));
  return f != 0;
}

void Comm::bcast(double* data, std::size_t n, int root) const {
  if (size_ == 1 || n == 0) return;
  MPI_CALL(MPI_Bcast(data, static_cast<int>(n), MPI_DOUBLE, root, comm_));
}

void Comm::bcast(std::string& s, int root) const {
  if (size_ == 1) return;
  long long n = static_cast<long long>(s.size());
  MPI_CALL(MPI_Bcast(&n, 1, MPI_LONG_LONG, root, comm_));
  s.resize(static_cast<size_t>(n));
  MPI_CALL(MPI_Bcast(s.data(), static_cast<int>(n), MPI_CHAR, root, comm_));
}

std::vector<double> Comm::allgather_blocks(const double* local, std::size_t size) const {
  std::vector<double> all;
  allgather_blocks(local, size, all);
  return all;
}

void Comm::allgather_blocks(const double* local, std::size_t size, std::vector<double>& all) const {
  int n = static_cast<int>(size);
  std::vector<int> counts(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
  MPI_CALL(MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, comm_));
  int total = 0;
  for (int r = 0; r < size_; ++r) {
    displs[static_cast<size_t>(r)] = total;
    total += counts[static_cast<size_t>(r)];
  }
  all.resize(static_cast<size_t>(total));
  MPI_CALL(MPI_Allgatherv(local, n, MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE, comm_));
}

void throw_first_error(std::string error, const Comm& comm) {
  const std::int64_t failed = comm.min(error.empty() ? std::int64_t{comm.size()} : std::int64_t{comm.rank()});
  if (failed == comm.size()) return;
  comm.bcast(error, static_cast<int>(failed));
  throw InputError(error);
}

bool mpi_allows_helper_thread() {
  int level = MPI_THREAD_SINGLE;
  MPI_Query_thread(&level);
  return level >= MPI_THREAD_SERIALIZED;
}

}  // namespace attnpaths
