// Communicators are explicit arguments everywhere: the library never touches
// MPI_COMM_WORLD. `Comm` is a thin, optionally owning wrapper with the few collectives we use.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

namespace attnpaths {

// Half-open range [begin, end) of global indices owned by one rank.
struct Range {
  std::int64_t begin = 0, end = 0;
  std::int64_t size() const { return end - begin; }
};

// Contiguous block distribution of n items over `parts`: blocks of ceil(n/parts), the last ones
// shorter or empty (the layout of PETSc's PetscSplitOwnershipEqual and of ScaLAPACK 1-D blocks).
Range block_range(std::int64_t n, int part, int parts);

class Comm {
 public:
  Comm() = default;
  // Non-owning view of an existing communicator (e.g. the world from the Runtime).
  static Comm view(MPI_Comm c) { return Comm(c, false); }
  ~Comm();
  Comm(Comm&& o) noexcept;
  Comm& operator=(Comm&& o) noexcept;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  MPI_Comm get() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }

  // Owning sub-communicator (MPI_Comm_split); ranks with equal color end up together, ordered by key.
  Comm split(int color, int key) const;

  void barrier() const;
  // In-place sums over all ranks.
  void sum(double* data, std::size_t n) const;
  void sum(std::vector<double>& v) const { sum(v.data(), v.size()); }
  double sum(double x) const;
  std::int64_t sum(std::int64_t x) const;
  double max(double x) const;
  std::int64_t max(std::int64_t x) const;
  std::int64_t min(std::int64_t x) const;
  // In-place bitwise or over all ranks (e.g. digests that are non-zero on one rank each).
  void bit_or(std::vector<std::uint64_t>& v) const;
  // Logical or / and of a flag over all ranks.
  bool any(bool flag) const;
  bool all(bool flag) const { return !any(!flag); }
  // Broadcast from `root` (in place).
  void bcast(double* data, std::size_t n, int root = 0) const;
  void bcast(std::vector<double>& v, int root = 0) const { bcast(v.data(), v.size(), root); }
  void bcast(std::string& s, int root = 0) const;
  // Gathers each rank's contiguous block into the full array on every rank (blocks in rank order).
  std::vector<double> allgather_blocks(const double* local, std::size_t n) const;
  // The same into `all`, resized (its memory is reused when it is large enough: no first-touch faults).
  void allgather_blocks(const double* local, std::size_t n, std::vector<double>& all) const;
  std::vector<double> allgather_blocks(const std::vector<double>& local) const {
    return allgather_blocks(local.data(), local.size());
  }
  template <class Allocator>  // e.g. a Buffer<double>
  std::vector<double> allgather_blocks(const std::vector<double, Allocator>& local) const {
    return allgather_blocks(local.data(), local.size());
  }

 private:
  Comm(MPI_Comm c, bool owned);
  MPI_Comm comm_ = MPI_COMM_NULL;
  bool owned_ = false;
  int rank_ = 0, size_ = 1;
};

// Collective: when `error` (this rank's failure message, empty if none) is set on some ranks, every
// rank throws InputError with the lowest such rank's message; otherwise it returns. For failures of
// validated input that a rank found alone, so that all ranks unwind alike.
void throw_first_error(std::string error, const Comm& comm);

// Whether a helper thread may call MPI (and MPI-IO through HDF5) while the main thread makes no MPI
// call: MPI was initialised with MPI_THREAD_SERIALIZED or more (core/runtime). The streams that read
// or write one block while computing the next (theory/stream_inputs, data/dataset_file) ask this.
bool mpi_allows_helper_thread();

}  // namespace attnpaths
