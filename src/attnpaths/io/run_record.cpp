#include "attnpaths/io/run_record.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>

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

void hash_text(Xxh64& hash, const std::string& s) {
  const std::uint64_t n = s.size();
  hash.update(reinterpret_cast<const unsigned char*>(&n), sizeof n);
  hash.update(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

void hash_values(Xxh64& hash, const std::vector<double>& v) {
  const std::uint64_t n = v.size();
  hash.update(reinterpret_cast<const unsigned char*>(&n), sizeof n);
  hash.update(reinterpret_cast<const unsigned char*>(v.data()), v.size() * sizeof(double));
}

// hash_values(hash, d.read_all<double>()), read in blocks of rows (a dataset may not fit in memory)
// of ~2 MiB into `buf`, one buffer for the whole file: a fresh block per dataset costs a page fault
// per 4 kB and its zero-filling (~0.2 s for the default 64 MB dataset), more than the hashing.
void hash_dataset_values(Xxh64& hash, const h5::Dataset& d, std::vector<double>& buf) {
  const h5::Dims dims = d.dims();
  if (dims.empty()) return hash_values(hash, d.read_all<double>());
  std::uint64_t n = 1, row = 1;
  for (auto v : dims) n *= v;
  for (std::size_t i = 1; i < dims.size(); ++i) row *= dims[i];
  hash.update(reinterpret_cast<const unsigned char*>(&n), sizeof n);
  const std::int64_t rows = static_cast<std::int64_t>(dims[0]);
  const std::int64_t block = std::max<std::int64_t>(1, static_cast<std::int64_t>((std::uint64_t{2} << 20) / 8 / std::max<std::uint64_t>(row, 1)));
  for (std::int64_t lo = 0; lo < rows; lo += block) {
    const std::int64_t m = std::min(block, rows - lo);
    const std::size_t count = static_cast<std::size_t>(m) * row;
    if (buf.size() < count) buf.resize(count);
    d.read_rows_into<double>(lo, m, buf.data());
    hash.update(reinterpret_cast<const unsigned char*>(buf.data()), count * sizeof(double));
  }
}

void hash_attributes(Xxh64& hash, const h5::Location& loc) {
  for (const auto& name : loc.attr_names()) {
    hash_text(hash, "@" + name);
    try {
      for (const auto& s : loc.attr_strings(name)) hash_text(hash, s);
    } catch (const InputError&) {  // not a string: numeric
      hash_values(hash, loc.attr_doubles(name));
    }
  }
}

// Groups, datasets and attributes below `loc`, depth first in name order (content_checksum).
void hash_group(Xxh64& hash, const h5::Location& loc, std::vector<double>& buf) {
  hash_attributes(hash, loc);
  for (const auto& child : loc.children()) {
    if (loc.name() == "/" && (child == "config" || child == "provenance")) continue;
    if (loc.is_group(child)) {
      hash_text(hash, "G" + child);
      hash_group(hash, loc.group(child), buf);
      continue;
    }
    const h5::Dataset d = loc.dataset(child);
    hash_text(hash, "D" + child);
    const h5::Dims dims = d.dims();
    hash_values(hash, std::vector<double>(dims.begin(), dims.end()));
    if (d.type_class() == H5T_FLOAT || d.type_class() == H5T_INTEGER) hash_dataset_values(hash, d, buf);
  }
}

}  // namespace

std::string content_checksum(const std::string& path, const Comm& comm) {
  std::string hex, error;
  if (comm.is_root()) {
    try {
      const Comm self = Comm::view(MPI_COMM_SELF);
      const h5::File file(path, self, h5::File::Mode::read);
      Xxh64 hash;
      std::vector<double> buf;
      hash_group(hash, file, buf);
      hex = fmt::format("xxh64-content:{:016x}", hash.digest());
    } catch (const Error& e) {
      error = e.what();
    }
  }
  comm.bcast(error);  // every rank throws the same error
  if (!error.empty()) throw InputError(error);
  comm.bcast(hex);
  return hex;
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
