// The theory's inputs read as a stream (docs/theory.md "Memory and blocks"): every rank reads its shard
// of each example set in blocks of bounded size, computes the attention and the path inputs x̃ of the
// block (docs/model.md §1.3) and keeps only what the kernel form needs:
//   dual form (P > r = N0·H_tot): the Gram sums Σ x̃ x̃^T, Σ y x̃, y^T y (kernels/dual.hpp GramSums) and
//     the targets; the block is dropped, so the memory does not grow with P;
//   primal and path-pair forms: the x̃ rows of its shard (the P×P kernels need them);
//   evaluation sets (test, validation, OOD): their x̃ rows (the predictor needs them).
// x̃ is bitwise independent of the block size (compute_path_inputs works in canonical global batches).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset.hpp"
#include "attnpaths/kernels/dual.hpp"
#include "attnpaths/model/path_inputs.hpp"

namespace attnpaths {

struct StreamedInputs {
  Dataset data;                        // header: attention, sizes, checksum; no examples
  KernelForm form = KernelForm::dual;  // the resolved form of the training set
  PathInputs train;                    // y always; x̃ rows in the primal and path-pair forms
  std::optional<GramSums> sums;        // dual form: reduced over the ranks
  std::vector<PathInputs> evaluation;  // in Dataset::evaluation_sets() order
  std::int64_t block_examples = 0;     // examples per block
  std::int64_t blocks = 0;             // blocks per rank, over every set
  std::int64_t read_ahead = 0;         // of them, read on a thread of their own while the previous one was computed
  std::uint64_t checksum_reads = 0;    // chunks the checksum read apart from the stream (this rank)
};

// Reads `path` (collective) in blocks of at most `block_mb` MiB of float64 examples. `form` is the
// requested kernel form (automatic: resolve_kernel_form). `keep_per_class` training rows of each class
// are kept in the dual form for the kernel figures (theory --kernel-subset). Within a set, each block
// after the first is read on a thread of its own while the previous one is computed (two blocks in
// memory), except at the ranks' agreements on invalid data. Times the stages "load" (the reads, or the
// waits for the blocks read ahead) and "path inputs" (attention, x̃, Gram sums).
StreamedInputs stream_inputs(const std::string& path, KernelForm form, double block_mb, int keep_per_class,
                             const Comm& comm, StageTimers& timers);

// The renormalised kernel of `in.train` (its form): from the Gram sums in the dual form, from the x̃
// rows in the primal and path-pair forms. `in` must outlive the kernel.
std::unique_ptr<RenormalizedKernel> make_streamed_kernel(const StreamedInputs& in, double sigma0_sq, const Comm& comm);

}  // namespace attnpaths
