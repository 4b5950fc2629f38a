// A small RAII layer over parallel HDF5. Every handle is a move-only owner; every C
// call is checked and failures become LibraryError/InputError carrying HDF5's error stack.
//
// Parallel rules (HDF5 1.10): files are opened with MPI-IO on a communicator; creating groups,
// datasets and attributes is collective (every rank calls with the same arguments); raw-data writes
// are collective hyperslab writes where each rank passes its own slab (possibly empty).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"

namespace attnpaths::h5 {

using Dims = std::vector<hsize_t>;

// Owning hid_t with the matching close function.
class Id {
 public:
  using Closer = herr_t (*)(hid_t);
  Id() = default;
  Id(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Id() { reset(); }
  Id(Id&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Id& operator=(Id&& o) noexcept;
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();
  // Gives up ownership without closing.
  hid_t release() {
    const hid_t i = id_;
    id_ = H5I_INVALID_HID;
    return i;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

template <class T>
hid_t native_type();

class Dataset;

// Common to files and groups: children and attributes.
class Location {
 public:
  hid_t get() const { return id_.get(); }
  const std::string& file_path() const { return file_path_; }
  const std::string& name() const { return name_; }  // path inside the file

  bool exists(const std::string& path) const;  // link exists (intermediate groups checked)
  Location group(const std::string& path) const;          // open an existing group
  Location create_group(const std::string& path) const;   // collective
  Location require_group(const std::string& path) const;  // open or create (collective)
  // Names of the direct children (groups and datasets) of this group, in name order.
  std::vector<std::string> children() const;
  // True if `path` exists and is a group (false for a dataset or a missing link).
  bool is_group(const std::string& path) const;

  // Datasets. `maxdims` empty = fixed size; with H5S_UNLIMITED entries the dataset is chunked
  // with `chunk` (required then) and can be extended. `fill` = false skips writing the fill value
  // (NaN for floating point) at creation: for datasets that are then written completely.
  template <class T>
  Dataset create_dataset(const std::string& path, const Dims& dims, const Dims& maxdims = {},
                         const Dims& chunk = {},
                         bool fill = true) const;
  Dataset dataset(const std::string& path) const;

  // Attributes (collective writes; every rank passes the same value).
  bool has_attr(const std::string& name) const;
  std::vector<std::string> attr_names() const;  // in name order
  void set_attr(const std::string& name, double v) const;
  void set_attr(const std::string& name, std::int64_t v) const;
  void set_attr(const std::string& name, int v) const { set_attr(name, std::int64_t{v}); }
  void set_attr(const std::string& name, const std::string& v) const;
  void set_attr(const std::string& name, const char* v) const { set_attr(name, std::string(v)); }
  void set_attr(const std::string& name, const std::vector<double>& v) const;
  void set_attr(const std::string& name, const std::vector<std::int64_t>& v) const;
  void set_attr(const std::string& name, const std::vector<std::string>& v) const;
  double attr_double(const std::string& name) const;
  std::int64_t attr_int(const std::string& name) const;
  std::string attr_string(const std::string& name) const;
  std::vector<double> attr_doubles(const std::string& name) const;
  std::vector<std::int64_t> attr_ints(const std::string& name) const;
  std::vector<std::string> attr_strings(const std::string& name) const;

  // Collective: copies the object `path` (a group with everything below it, or a dataset) of the
  // finished file `source_file` to the same path here (H5Ocopy; the source is opened read-only).
  void copy_from(const std::string& source_file, const std::string& path) const;

  // Convenience: collective creation + write of a small replicated array (rank 0 writes).
  template <class T>
  void write(const std::string& path, const Dims& dims, const std::vector<T>& data) const;
  // Collective creation + write (rank 0) of a fixed-length string array (NUL-padded to the longest
  // entry; fixed length so that parallel HDF5 can write it).
  void write_strings(const std::string& path, const Dims& dims, const std::vector<std::string>& data) const;
  template <class T>
  void write_scalar(const std::string& path, T value) const {
    write<T>(path, {}, std::vector<T>{value});
  }

 protected:
  friend class File;
  friend class Dataset;
  Location() = default;
  Location(Id id, std::string file_path, std::string name, const Comm* comm)
      : id_(std::move(id)), file_path_(std::move(file_path)), name_(std::move(name)), comm_(comm) {}
  std::string child_name(const std::string& path) const;
  Id open_attr_for_write(const std::string& name, hid_t type, hid_t space) const;
  template <class T>
  void set_numeric_attr(const std::string& name, const T* data, hsize_t n, bool scalar) const;
  Id id_;
  std::string file_path_, name_;
  const Comm* comm_ = nullptr;
};

class Dataset {
 public:
  Dims dims() const;
  hid_t get() const { return id_.get(); }
  const std::string& name() const { return name_; }
  const std::string& file_path() const { return file_path_; }
  // Type class of the stored elements (H5T_FLOAT, H5T_INTEGER, ...).
  H5T_class_t type_class() const;
  // Bytes per stored element (4 for float32, 8 for float64, ...).
  std::size_t element_size() const;

  // Collective: each rank writes the slab [start, start+count) (count may be all zeros).
  template <class T>
  void write_slab(const Dims& start, const Dims& count, const T* data) const;
  // Collective: rows [row_begin, row_begin+rows) of the first dimension, full in the others.
  template <class T>
  void write_rows(std::int64_t row_begin, std::int64_t rows, const T* data) const;
  // Collective: rank 0 writes everything from its buffer, the other ranks nothing.
  template <class T>
  void write_root(const T* data) const;
  // Independent or collective read of a slab / rows / everything, into a new vector.
  template <class T>
  std::vector<T> read_slab(const Dims& start, const Dims& count) const;
  template <class T>
  std::vector<T> read_rows(std::int64_t row_begin, std::int64_t rows) const;
  // Into a caller's buffer; read_rows/write_rows split the transfer into calls below the MPI-IO
  // 2 GiB limit (set_transfer_limit).
  template <class T>
  void read_slab_into(const Dims& start, const Dims& count, T* out) const;
  // (float64 rows of a float32 dataset are read as stored and widened: read_float32_widened.)
  template <class T>
  void read_rows_into(std::int64_t row_begin, std::int64_t rows, T* out) const;
  // read_rows_into<double> that also hands each piece of rows to `stored` with its values as stored:
  // (first row, rows, f32, f64) with f32 the floats before widening for a float32 dataset, else f64 the
  // doubles just read (e.g. a checksum computed while streaming, without reading the file again).
  using StoredPiece = std::function<void(std::int64_t, std::int64_t, const float*, const double*)>;
  void read_rows_into(std::int64_t row_begin, std::int64_t rows, double* out, const StoredPiece& stored) const;
  template <class T>
  std::vector<T> read_all() const;
  // Every entry of a fixed- or variable-length string dataset (trailing NULs removed).
  std::vector<std::string> read_strings() const;
  // Collective: grows a chunked dataset to `dims`.
  void extend(const Dims& dims) const;
  // The dataset's attributes through the Location interface (a second handle on the same object).
  Location attributes() const;

 private:
  void read_float32_widened(std::int64_t row_begin, std::int64_t rows, double* out,
                            const StoredPiece* stored = nullptr) const;
  friend class Location;
  Dataset(Id id, std::string file_path, std::string name, const Comm* comm)
      : id_(std::move(id)), file_path_(std::move(file_path)), name_(std::move(name)), comm_(comm) {}
  Id id_;
  std::string file_path_, name_;
  const Comm* comm_ = nullptr;
};

class File : public Location {
 public:
  enum class Mode { read, read_write, create };
  // Opens or creates `path` with MPI-IO on `comm` (collective). The Comm must outlive the File.
  // A file of one rank (`comm` of size 1: a singleton's files, a rank's own read of a shared file) is
  // opened with POSIX I/O instead, in every mode: no MPI-IO components, shared-file-pointer files or
  // semaphores to set up (docs/benchmarks.md). It keeps MPI-IO's semantics: no file lock, and close()
  // fails while objects are open.
  File(const std::string& path, const Comm& comm, Mode mode);
  File(File&&) = default;
  File& operator=(File&&) = default;
  ~File();
  void flush() const;  // collective; makes the file valid on disk as it stands
  void close();        // collective; throws if the file cannot be closed (e.g. an object is still open)
  const Comm& comm() const { return *comm_; }
};

// What a writing command may do with its output path (--overwrite, --resume, and the files it reads).
struct OutputPolicy {
  bool overwrite = false;           // replace an existing complete output
  bool resume = false;              // continue `<path>.partial`
  std::vector<std::string> inputs;  // files the command reads: the output may be none of them
};

// The exclusive right to write `path`, taken before any computation (collective: rank 0 checks and
// holds the lock; every rank throws the same InputError, exit 3). Refuses
//  - an output that is one of the inputs (same device and inode, or the same canonical path; the
//    `.partial` too), so `-o in.h5 --data ./in.h5` or a symlink to the input never destroys it;
//  - an existing complete `path` unless `overwrite` (and `resume` of a complete `path` unless `overwrite`);
//  - a `<path>.partial` locked (flock) by another run: the second writer fails at once.
// `<path>.partial` is created (empty) if missing and stays locked until the claim is destroyed or the
// process ends; an empty `.partial` left by a failed run is removed again.
class OutputClaim {
 public:
  OutputClaim(const std::string& path, const Comm& comm, const OutputPolicy& policy);
  ~OutputClaim();
  OutputClaim(OutputClaim&& o) noexcept;
  OutputClaim(const OutputClaim&) = delete;
  OutputClaim& operator=(const OutputClaim&) = delete;
  OutputClaim& operator=(OutputClaim&&) = delete;
  // True if a non-empty `<path>.partial` existed when the claim was taken (something to resume).
  bool partial_existed() const { return partial_existed_; }

 private:
  std::string path_;
  int fd_ = -1;  // rank 0: the locked `<path>.partial`
  bool partial_existed_ = false;
};

// An output file written as `<path>.partial` and renamed to `<path>` by commit(): a killed or
// failed run never leaves a file that looks complete. The partial file is a valid HDF5 file after
// every flush() (results written so far are readable and, where supported, resumable).
class OutputFile {
 public:
  OutputFile(const std::string& path, const Comm& comm, bool resume = false);
  h5::File& file() { return file_; }
  const std::string& path() const { return path_; }
  static std::string partial_path(const std::string& path) { return path + ".partial"; }
  // Takes the exclusive right to write `path` (see OutputClaim); call it before any computation and
  // keep the claim alive until the file is committed.
  static OutputClaim claim(const std::string& path, const Comm& comm, const OutputPolicy& policy) {
    return OutputClaim(path, comm, policy);
  }
  // Closes and renames to the final path (collective).
  void commit();

 private:
  std::string path_;
  const Comm& comm_;
  h5::File file_;
};

// Throws InputError if `path` cannot be created for writing (checked before long computations).
void check_writable(const std::string& path);

// Largest transfer of one read_rows/write_rows call in bytes (default 1 GiB: MPI-IO fails above 2 GiB);
// returns the previous limit. For tests that force many calls.
std::size_t set_transfer_limit(std::size_t bytes);

}  // namespace attnpaths::h5
