// Dataset files (docs/files.md §1; docs/data.md): reading with full validation, and writing.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/config.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset.hpp"
#include "attnpaths/io/hdf5.hpp"

namespace attnpaths {

class StreamedChecksum;  // io/run_record.hpp

// Reads a dataset file on `comm` (collective). Each rank reads only its block of rows
// (block_range) of /train, /test, /validation (optional) and every /ood/<name>; the attention
// weights are replicated. Validates the root attributes, every shape, the attention attributes,
// styles and weight shapes, the optional path_labels, and that x, y and the weights are finite.
// Every rank throws the same InputError naming the file, the dataset and what was expected.
Dataset read_dataset(const std::string& path, const Comm& comm);

// What a result was computed on, as attributes of its /data group (docs/files.md): task, file, checksum,
// T, N0, L, heads, H_tot, path_labels of the dataset read from `path`.
void write_dataset_description(const h5::Location& group, const Dataset& data, const std::string& path);

// Fills rows [rows.begin, rows.end) (global indices) of `set`: x [rows × T × N0] and y [rows]. It runs
// while the previous block is written on another thread, so it must not call MPI or HDF5.
using RowSource = std::function<void(const ExampleSet& set, const Range& rows, double* x, double* y)>;

// How write_dataset_streamed stores the examples.
struct StreamedWrite {
  std::int64_t block_examples = 1;  // rows generated and written at a time per rank
  bool float32 = false;             // store x as float32 (y stays float64); readers convert to float64
  // Write each block on a helper thread while the next is generated: by default when MPI allows it and
  // the rank has ≥ 2 cores to itself (a collective write would otherwise busy-wait on its only core);
  // true or false forces it (when MPI allows it) or not (tests).
  std::optional<bool> write_behind;
};

// Writes the dataset `header` (sizes, sharding, attention; no examples) whose rows `fill` produces block
// by block: every rank generates and writes only its rows, one block at a time (collective), so the
// memory is one block, or two when each block is written on a helper thread while the next is
// generated (StreamedWrite::write_behind). Times the stages "generate" and "write" (the writes, or the
// waits for them); finishes `prov` (end time) after the examples, then writes /config and /provenance
// and renames `<path>.partial` to `path`.
void write_dataset_streamed(const std::string& path, const Dataset& header, const RowSource& fill,
                            const StreamedWrite& how, const Comm& comm, const Config& config, Provenance& prov,
                            StageTimers& timers);

// A dataset file opened for reading in blocks (streaming; docs/files.md §1). Opening (collective)
// validates the root attributes, the attention and the shape of every example set and computes the
// content checksum; example rows are read and validated on demand, so nothing holds the whole set.
class DatasetReader {
 public:
  // With `checksum`, the header's content checksum is computed here (a pass over the whole file); without,
  // it is left empty for a caller that computes it while streaming (StreamedChecksum).
  DatasetReader(const std::string& path, const Comm& comm, bool checksum = true);
  // The dataset without examples: every set has its name, count and local rows (block_range), x, y empty.
  const Dataset& header() const { return header_; }
  // The set named `name` of header() ("train", "test", "validation", "ood/<name>").
  const ExampleSet& set(const std::string& name) const;
  const Comm& comm() const { return comm_; }
  // Rows [begin, end) (global indices inside this rank's shard) of set `name`, validated as read_dataset
  // does. Collective: every rank calls it equally often (an empty range is fine). Each MPI-IO call stays
  // below 2 GiB.
  ExampleSet read_rows(const std::string& name, std::int64_t begin, std::int64_t end) const;
  // The same into `out`, whose memory is reused (a stream reading block after block into one set
  // allocates and zero-fills nothing after its first block). With `each_rank_alone` the rows are
  // validated on this rank only, without any collective call: a rank whose rows are invalid throws
  // InputError alone, and the caller must bring the ranks to agree (throw_first_error) before any
  // other collective call; the reads themselves are independent either way.
  // With `checksum`, the rows of x are also handed to it as stored (StreamedChecksum::add_rows), so a
  // stream need not read the file a second time for its checksum.
  void read_rows_into(const std::string& name, std::int64_t begin, std::int64_t end, ExampleSet& out,
                      bool each_rank_alone = false, StreamedChecksum* checksum = nullptr) const;
  // This rank's rows of `name` cut into consecutive blocks of at most `block_examples`, at global
  // multiples of it; every rank gets the same number of blocks (empty ones after the end of a shorter
  // shard), as read_rows needs.
  std::vector<Range> blocks(const std::string& name, std::int64_t block_examples) const;

 private:
  h5::File file_;
  const Comm& comm_;
  Dataset header_;
};

// Examples per block of at most `block_mb` MiB of float64 x (T × N0 per example); at least 1.
std::int64_t block_examples_for(double block_mb, int T, int N0);

// Writes `d` in the docs/files.md §1 layout plus /config and /provenance (io/run_record.hpp), as
// `<path>.partial` renamed to `path` on success (collective; each rank writes its own rows).
// `extra` (optional) writes task-specific groups (e.g. /episodes, /bank) into the open file before
// /config; it must close every handle it opens.
void write_dataset(const std::string& path, const Dataset& d, const Comm& comm, const Config& config,
                   const Provenance& prov, const StageTimers& timers,
                   const std::function<void(const h5::File&)>& extra = {});

}  // namespace attnpaths
