// /checkpoint of a samples file (docs/files.md §3): the complete state of every chain, double-buffered.
//
//   /checkpoint                     attrs: fingerprint (options + data checksum), slot (-1 = none yet),
//                                   iterations [C] of the current slot
//   /checkpoint/slot_<k>/position      [C, n]   chain positions
//   /checkpoint/slot_<k>/inv_metric    [C, m]   adapted inverse metric: m = n (diagonal) or n² (dense, row-major)
//   /checkpoint/slot_<k>/welford_mean  [C, n]   metric estimator of the current warm-up window
//   /checkpoint/slot_<k>/welford_m2    [C, m]
//   /checkpoint/slot_<k>/reals         [C, 8]   step size, dual-averaging state, RNG spare normal, seconds
//   /checkpoint/slot_<k>/integers      [C, 16]  iteration, window state, gradient evaluations, RNG counter
//   /checkpoint/slot_<k>/checksum      [C]      FNV-1a of the chain state (corruption check)
// A checkpoint is written to the inactive slot, flushed, and only then made current: a run killed
// while writing keeps the previous checkpoint.
#pragma once

#include <cstdint>
#include <string>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/sampler/chain.hpp"

namespace attnpaths {

class CheckpointStore {
 public:
  // Collective: creates the layout for `chains` chains of dimension n whose metric has `metric` entries
  // (Chain::metric_size).
  static void create(const h5::File& file, int chains, std::int64_t dimension, const std::string& fingerprint,
                     std::int64_t metric);
  // Opens an existing layout; throws InputError if it is missing, of another shape, or its fingerprint
  // differs from `fingerprint` (naming the differing options).
  CheckpointStore(const h5::File& file, int chains, std::int64_t dimension, const std::string& fingerprint,
                  std::int64_t metric);

  bool has_state() const { return slot_ >= 0; }
  // Collective over the file's communicator: every rank calls; `state` is non-null on the one rank
  // that writes chain `chain` (the group root), null elsewhere.
  void write(const Comm& world, int chain, const ChainState* state, double seconds);
  // Chain c's state of the current slot (checksum verified; InputError if corrupt).
  ChainState read(int chain, double* seconds) const;

 private:
  const h5::File& file_;
  int chains_;
  std::int64_t n_, metric_;
  int slot_ = -1;
};

}  // namespace attnpaths
