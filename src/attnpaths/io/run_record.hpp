// /config and /provenance of every output file (docs/files.md §2): every resolved option, the input file's
// path and checksum, versions, ranks, host, times, and the per-stage timing table.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "attnpaths/core/config.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/io/hdf5.hpp"

namespace attnpaths {

// Writes the root attributes `format` and `version`.
void write_format(const h5::File& file, const std::string& format, int version);
// Writes /config (one attribute per option). Collective.
void write_config(const h5::File& file, const Config& config);
// Writes /provenance attributes and /provenance/timing/{stage,seconds,calls}. Collective.
void write_provenance(const h5::File& file, const Provenance& provenance, const StageTimers& timers);

// Checksum of a file's bytes, "xxh64:<16 hex digits>" (XXH64, as printed by `xxhsum -H1`);
// computed on rank 0 and broadcast.
std::string file_checksum(const std::string& path, const Comm& comm);

// Checksum of an HDF5 file's CONTENT, "xxh64-content-v2:<16 hex digits>": XXH64 over every group,
// dataset (path, shape and values: float32 as stored, other numbers as float64) and attribute (name and value), in name order, except
// /config and /provenance (times, host, command line); a dataset's values enter as the XXH64 digests of
// fixed chunks of ~2 MiB, which the ranks hash in parallel (docs/files.md "Data checksum"). The same
// data written again (another run, rank count or HDF5 layout) give the same checksum on any number of
// ranks. Collective; every rank returns it.
inline constexpr const char* content_checksum_prefix = "xxh64-content-v2:";
std::string content_checksum(const std::string& path, const Comm& comm);

// The same checksum, computed alongside a pass that reads a dataset's rows anyway (the theory's stream):
// rows handed to add_rows are hashed as they come, and finish() reads only the chunks that no rank was
// given whole (the other datasets, and chunks split between blocks of different ranks or skipped). So a
// stream reads the file once instead of twice. The constructor and finish() are collective.
class StreamedChecksum {
 public:
  StreamedChecksum(const std::string& path, const Comm& comm);  // lists the content; reads no values
  ~StreamedChecksum();
  StreamedChecksum(const StreamedChecksum&) = delete;
  StreamedChecksum& operator=(const StreamedChecksum&) = delete;
  // Rows [begin, begin + rows) of dataset `name` (a path such as "train/x"), row-major, as the checksum
  // hashes them: floats for a float32 dataset, doubles for any other numeric one (Dataset::read_rows_into
  // with a StoredPiece hands over exactly these). This rank's calls for one dataset must come in
  // increasing row order; rows that do not continue a chunk begun in an earlier call, values of the
  // other type and a name that is not a numeric dataset are left to finish(). Local: no collective
  // call, no exception.
  void add_rows(const std::string& name, std::int64_t begin, std::int64_t rows, const double* values) noexcept;
  void add_rows(const std::string& name, std::int64_t begin, std::int64_t rows, const float* values) noexcept;
  std::string finish();  // every rank returns the checksum; a read error is thrown on every rank
  std::uint64_t chunks_read() const;  // chunks this rank read and hashed in finish()

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace attnpaths
