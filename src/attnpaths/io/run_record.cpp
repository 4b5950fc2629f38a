#include "attnpaths/io/run_record.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>

#include "attnpaths/core/buffer.hpp"
#include "attnpaths/core/error.hpp"

namespace attnpaths {

void write_format(const h5::File& file, const std::string& format, int version) {
  file.set_attr("format", format);
  file.set_attr("version", std::int64_t{version});
}

void write_config(const h5::File& file, const Config& config) {
  auto g = file.require_group("config");
  for (const auto& [key, value] : config.entries())
    std::visit([&](const auto& v) { g.set_attr(key, v); }, value);
}

void write_provenance(const h5::File& file, const Provenance& p, const StageTimers& timers) {
  auto g = file.require_group("provenance");
  g.set_attr("attnpaths_version", p.version);
  g.set_attr("git_commit", p.git_commit);
  g.set_attr("petsc_version", p.petsc_version);
  g.set_attr("hdf5_version", p.hdf5_version);
  g.set_attr("mpi_version", p.mpi_version);
  g.set_attr("host", p.host);
  g.set_attr("command_line", p.command_line);
  g.set_attr("mpi_ranks", std::int64_t{p.ranks});
  g.set_attr("omp_threads", std::int64_t{p.omp_threads});
  g.set_attr("openblas_coretype", p.openblas_coretype);
  g.set_attr("openblas_num_threads", p.openblas_num_threads);
  g.set_attr("start_time", p.start_time);
  g.set_attr("end_time", p.end_time);
  g.set_attr("wall_seconds", p.wall_seconds);
  g.set_attr("mpi_start_seconds", p.mpi_start_seconds);
  // Peak resident memory of every rank so far (VmHWM), gathered: one collective.
  g.set_attr("peak_memory_bytes", file.comm().allgather_blocks({peak_resident_bytes()}));
  std::vector<std::string> names;
  std::vector<double> seconds, cpu;
  std::vector<std::int64_t> calls;
  for (const auto& e : timers.table()) {
    names.push_back(e.name);
    seconds.push_back(e.seconds);
    cpu.push_back(e.cpu_seconds);
    calls.push_back(e.calls);
  }
  auto t = g.require_group("timing");
  t.set_attr("stage", names);
  t.set_attr("seconds", seconds);
  t.set_attr("cpu_seconds", cpu);
  t.set_attr("calls", calls);
}

namespace {
// XXH64 (Yann Collet's xxHash, 64-bit, seed 0), streaming: identical to `xxhsum -H1 FILE`.
// A non-cryptographic checksum: it identifies a file's bytes for provenance and resume checks at
// memory speed (SHA-256 runs at ~100 MB/s here, seconds for a large dataset).
class Xxh64 {
 public:
  void update(const unsigned char* p, std::size_t n) {
    total_ += n;
    if (used_ + n < 32) {
      std::memcpy(buf_ + used_, p, n);
      used_ += n;
      return;
    }
    if (used_) {
      const std::size_t fill = 32 - used_;
      std::memcpy(buf_ + used_, p, fill);
      stripe(buf_);
      p += fill;
      n -= fill;
      used_ = 0;
    }
    // The lanes in registers: stores to v_ could alias the input bytes, which keeps them in memory.
    std::uint64_t v0 = v_[0], v1 = v_[1], v2 = v_[2], v3 = v_[3];
    for (; n >= 32; p += 32, n -= 32) {
      v0 = round(v0, read64(p));
      v1 = round(v1, read64(p + 8));
      v2 = round(v2, read64(p + 16));
      v3 = round(v3, read64(p + 24));
    }
    v_[0] = v0;
    v_[1] = v1;
    v_[2] = v2;
    v_[3] = v3;
    std::memcpy(buf_, p, n);
    used_ = n;
  }
  std::uint64_t digest() const {
    std::uint64_t h;
    if (total_ >= 32) {
      h = rotl(v_[0], 1) + rotl(v_[1], 7) + rotl(v_[2], 12) + rotl(v_[3], 18);
      for (std::uint64_t v : v_) h = (h ^ round(0, v)) * p1 + p4;
    } else {
      h = p5;
    }
    h += total_;
    std::size_t i = 0;
    for (; i + 8 <= used_; i += 8) h = rotl(h ^ round(0, read64(buf_ + i)), 27) * p1 + p4;
    if (i + 4 <= used_) {
      std::uint32_t k;
      std::memcpy(&k, buf_ + i, 4);
      h = rotl(h ^ (std::uint64_t{k} * p1), 23) * p2 + p3;
      i += 4;
    }
    for (; i < used_; ++i) h = rotl(h ^ (std::uint64_t{buf_[i]} * p5), 11) * p1;
    h ^= h >> 33;
    h *= p2;
    h ^= h >> 29;
    h *= p3;
    h ^= h >> 32;
    return h;
  }

 private:
  static constexpr std::uint64_t p1 = 0x9E3779B185EBCA87ULL, p2 = 0xC2B2AE3D27D4EB4FULL, p3 = 0x165667B19E3779F9ULL,
                                 p4 = 0x85EBCA77C2B2AE63ULL, p5 = 0x27D4EB2F165667C5ULL;
  static std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
  static std::uint64_t round(std::uint64_t acc, std::uint64_t in) { return rotl(acc + in * p2, 31) * p1; }
  static std::uint64_t read64(const unsigned char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  void stripe(const unsigned char* p) {
    for (int k = 0; k < 4; ++k) v_[k] = round(v_[k], read64(p + 8 * k));
  }
  std::uint64_t v_[4] = {p1 + p2, p2, 0, 0 - p1};
  unsigned char buf_[32] = {};
  std::size_t used_ = 0;
  std::uint64_t total_ = 0;
};
}  // namespace

namespace {

// The content of a dataset file in hashing order (content_checksum): records of bytes (names,
// shapes, attributes), each followed by the values of one numeric dataset, if any.
struct ContentRecord {
  std::string bytes;
  std::string dataset;              // path of the numeric dataset whose values follow ("": none)
  std::uint64_t rows = 0, row = 1;  // its values as rows × row (a scalar: 1 × 1)
  bool scalar = false;
  bool float32 = false;             // stored as float32: hashed as such (else as float64)
};

void add_bytes(std::vector<ContentRecord>& out, const void* p, std::size_t n) {
  if (out.empty() || !out.back().dataset.empty()) out.emplace_back();
  out.back().bytes.append(static_cast<const char*>(p), n);
}

// A string or a vector of doubles: its length (uint64) and then its bytes.
void add_text(std::vector<ContentRecord>& out, const std::string& s) {
  const std::uint64_t n = s.size();
  add_bytes(out, &n, sizeof n);
  add_bytes(out, s.data(), s.size());
}

void add_values(std::vector<ContentRecord>& out, const std::vector<double>& v) {
  const std::uint64_t n = v.size();
  add_bytes(out, &n, sizeof n);
  add_bytes(out, v.data(), v.size() * sizeof(double));
}

void add_attributes(std::vector<ContentRecord>& out, const h5::Location& loc) {
  for (const auto& name : loc.attr_names()) {
    add_text(out, "@" + name);
    try {
      for (const auto& s : loc.attr_strings(name)) add_text(out, s);
    } catch (const InputError&) {  // not a string: numeric
      add_values(out, loc.attr_doubles(name));
    }
  }
}

// Groups, datasets and attributes below `loc` (path `prefix`), depth first in name order.
void list_group(std::vector<ContentRecord>& out, const h5::Location& loc, const std::string& prefix) {
  add_attributes(out, loc);
  for (const auto& child : loc.children()) {
    if (prefix.empty() && (child == "config" || child == "provenance")) continue;
    if (loc.is_group(child)) {
      add_text(out, "G" + child);
      list_group(out, loc.group(child), prefix + child + "/");
      continue;
    }
    const h5::Dataset d = loc.dataset(child);
    add_text(out, "D" + child);
    const h5::Dims dims = d.dims();
    add_values(out, std::vector<double>(dims.begin(), dims.end()));
    if (d.type_class() != H5T_FLOAT && d.type_class() != H5T_INTEGER) continue;
    ContentRecord values;
    values.dataset = prefix + child;
    values.scalar = dims.empty();
    values.float32 = d.type_class() == H5T_FLOAT && d.element_size() == sizeof(float);
    values.rows = dims.empty() ? 1 : dims[0];
    for (std::size_t i = 1; i < dims.size(); ++i) values.row *= dims[i];
    out.push_back(std::move(values));
  }
}

std::uint64_t value_bytes(const ContentRecord& r) { return r.float32 ? sizeof(float) : sizeof(double); }

// A dataset's values are hashed in chunks of whole rows of about 2 MiB (at least one row).
std::uint64_t chunk_rows(const ContentRecord& r) {
  return std::max<std::uint64_t>(1, (std::uint64_t{2} << 20) / value_bytes(r) / std::max<std::uint64_t>(r.row, 1));
}

std::uint64_t chunk_count(const ContentRecord& r) {
  const std::uint64_t c = chunk_rows(r);
  return (r.rows + c - 1) / c;
}

// XXH64 of rows [lo, lo + m) of the dataset's values read as T into `buffer` (reused from chunk to chunk).
template <class T>
std::uint64_t digest_as(const h5::Dataset& data, const ContentRecord& r, std::uint64_t lo, std::uint64_t m,
                        Buffer<T>& buffer) {
  const std::uint64_t count = m * r.row;
  if (buffer.size() < count) resize_buffer(buffer, count);
  if (r.scalar)
    buffer[0] = data.read_all<T>().at(0);
  else
    data.read_rows_into<T>(static_cast<std::int64_t>(lo), static_cast<std::int64_t>(m), buffer.data());
  Xxh64 h;
  h.update(reinterpret_cast<const unsigned char*>(buffer.data()), count * sizeof(T));
  return h.digest();
}

// XXH64 of rows [lo, lo + m) of the dataset's values: float32 as stored, everything else as float64.
std::uint64_t chunk_digest(const h5::Dataset& data, const ContentRecord& r, std::uint64_t lo, std::uint64_t m,
                           Buffer<float>& f, Buffer<double>& d) {
  return r.float32 ? digest_as(data, r, lo, m, f) : digest_as(data, r, lo, m, d);
}

// The checksum from the records and every chunk's digest (docs/files.md "Data checksum").
std::string content_digest(const std::vector<ContentRecord>& records, const std::vector<std::uint64_t>& digests) {
  Xxh64 hash;
  std::size_t g = 0;
  for (const auto& r : records) {
    hash.update(reinterpret_cast<const unsigned char*>(r.bytes.data()), r.bytes.size());
    if (r.dataset.empty()) continue;
    const std::uint64_t n = r.rows * r.row, chunks = chunk_count(r);
    hash.update(reinterpret_cast<const unsigned char*>(&n), sizeof n);
    hash.update(reinterpret_cast<const unsigned char*>(digests.data() + g), chunks * sizeof(std::uint64_t));
    g += chunks;
  }
  return fmt::format("{}{:016x}", content_checksum_prefix, hash.digest());
}

}  // namespace

// Every numeric dataset's chunks are numbered through the whole file in content order; chunk g's digest
// is known (non-zero) on the rank that hashed it, zero elsewhere, and combined by one bitwise-or
// allreduce. A chunk no rank hashed from streamed rows is read and hashed by rank g mod ranks.
struct StreamedChecksum::State {
  const Comm& comm;
  std::optional<h5::File> file;  // on MPI_COMM_SELF: each rank reads its chunks independently
  std::vector<ContentRecord> records;
  std::vector<std::uint64_t> first_chunk;   // per record: number of its first chunk
  std::map<std::string, std::size_t> index;  // dataset path -> record (numeric, not scalar)
  std::vector<std::uint64_t> digests;
  std::uint64_t read = 0;  // chunks read in finish()
  struct Open {  // a chunk begun in one add_rows call and continued in the next
    bool active = false;
    std::uint64_t chunk = 0, next_row = 0;
    Xxh64 hash;
  };
  std::map<std::size_t, Open> open;
  explicit State(const Comm& c) : comm(c) {}
  template <class T>
  void add(const std::string& name, std::int64_t begin, std::int64_t rows, const T* values);

  // Reads and hashes rank g mod ranks' chunks that no rank hashed from streamed rows.
  void hash_the_rest(const std::vector<std::uint64_t>& hashed) {
    Buffer<float> f;
    Buffer<double> d;
    const auto ranks = static_cast<std::uint64_t>(comm.size()), me = static_cast<std::uint64_t>(comm.rank());
    for (std::size_t k = 0; k < records.size(); ++k) {
      const ContentRecord& r = records[k];
      if (r.dataset.empty()) continue;
      const h5::Dataset data = file->dataset(r.dataset);
      const std::uint64_t c = chunk_rows(r);
      for (std::uint64_t lo = 0, g = first_chunk[k]; lo < r.rows; lo += c, ++g)
        if (hashed[g] == 0 && g % ranks == me) {
          digests[g] = chunk_digest(data, r, lo, std::min(c, r.rows - lo), f, d);
          ++read;
        }
    }
  }
};

StreamedChecksum::StreamedChecksum(const std::string& path, const Comm& comm) : s_(std::make_unique<State>(comm)) {
  std::string error;
  try {
    s_->file.emplace(path, Comm::view(MPI_COMM_SELF), h5::File::Mode::read);
    list_group(s_->records, *s_->file, "");
  } catch (const Error& e) {
    error = e.what();
  }
  throw_first_error(error, comm);  // every rank throws the first failing rank's error
  std::uint64_t total = 0;
  for (std::size_t k = 0; k < s_->records.size(); ++k) {
    const ContentRecord& r = s_->records[k];
    s_->first_chunk.push_back(total);
    if (r.dataset.empty()) continue;
    if (!r.scalar) s_->index[r.dataset] = k;
    total += chunk_count(r);
  }
  s_->digests.assign(total, 0);
}

StreamedChecksum::~StreamedChecksum() = default;

// Hashes rows [begin, begin + rows) of `name` given as `T` (the type its values are hashed as).
template <class T>
void StreamedChecksum::State::add(const std::string& name, std::int64_t begin, std::int64_t rows, const T* values) {
  const auto it = index.find(name);
  if (it == index.end() || begin < 0 || rows <= 0) return;
  const ContentRecord& r = records[it->second];
  const auto lo = static_cast<std::uint64_t>(begin), hi = lo + static_cast<std::uint64_t>(rows);
  if (hi > r.rows || value_bytes(r) != sizeof(T)) return;  // hashed as the other type
  Open& o = open[it->second];
  const std::uint64_t c = chunk_rows(r);
  for (std::uint64_t row = lo; row < hi;) {
    const std::uint64_t chunk = row / c, chunk_end = std::min((chunk + 1) * c, r.rows), stop = std::min(hi, chunk_end);
    if (row == chunk * c) o = Open{true, chunk, row, Xxh64{}};  // a chunk starts here
    if (o.active && o.chunk == chunk && o.next_row == row) {
      o.hash.update(reinterpret_cast<const unsigned char*>(values + (row - lo) * r.row), (stop - row) * r.row * sizeof(T));
      o.next_row = stop;
      if (stop == chunk_end) {
        digests[first_chunk[it->second] + chunk] = o.hash.digest();
        o.active = false;
      }
    } else {
      o.active = false;  // the chunk's first rows were not given here: finish() reads it
    }
    row = stop;
  }
}

void StreamedChecksum::add_rows(const std::string& name, std::int64_t begin, std::int64_t rows,
                                const double* values) noexcept {
  s_->add(name, begin, rows, values);
}

void StreamedChecksum::add_rows(const std::string& name, std::int64_t begin, std::int64_t rows,
                                const float* values) noexcept {
  s_->add(name, begin, rows, values);
}

std::string StreamedChecksum::finish() {
  std::vector<std::uint64_t> hashed(s_->digests.size());
  for (std::size_t g = 0; g < hashed.size(); ++g) hashed[g] = s_->digests[g] != 0;
  s_->comm.bit_or(hashed);
  std::string error;
  try {
    s_->hash_the_rest(hashed);
  } catch (const Error& e) {
    error = e.what();
  }
  throw_first_error(error, s_->comm);
  s_->comm.bit_or(s_->digests);
  return content_digest(s_->records, s_->digests);
}

std::uint64_t StreamedChecksum::chunks_read() const { return s_->read; }

std::string content_checksum(const std::string& path, const Comm& comm) {
  return StreamedChecksum(path, comm).finish();
}

std::string file_checksum(const std::string& path, const Comm& comm) {
  std::string hex;
  if (comm.is_root()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(fmt::format("cannot read '{}'", path));
    Xxh64 hash;
    std::vector<char> buf(1 << 22);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      hash.update(reinterpret_cast<const unsigned char*>(buf.data()), static_cast<size_t>(in.gcount()));
    }
    hex = fmt::format("xxh64:{:016x}", hash.digest());
  }
  comm.bcast(hex);
  return hex;
}

}  // namespace attnpaths
