#include "attnpaths/io/run_record.hpp"

#include <fmt/format.h>

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
  std::vector<std::string> names;
  std::vector<double> seconds;
  std::vector<std::int64_t> calls;
  for (const auto& e : timers.table()) {
    names.push_back(e.name);
    seconds.push_back(e.seconds);
    calls.push_back(e.calls);
  }
  auto t = g.require_group("timing");
  t.set_attr("stage", names);
  t.set_attr("seconds", seconds);
  t.set_attr("calls", calls);
}

namespace {
// Minimal SHA-256 (FIPS 180-4), enough for checksumming input files.
struct Sha256 {
  std::uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::uint64_t bits = 0;
  std::array<unsigned char, 64> block{};
  size_t used = 0;
  static std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
  void compress() {
    static const std::uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = (std::uint32_t{block[4 * i]} << 24) | (std::uint32_t{block[4 * i + 1]} << 16) |
             (std::uint32_t{block[4 * i + 2]} << 8) | std::uint32_t{block[4 * i + 3]};
    for (int i = 16; i < 64; ++i) {
      std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      std::uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  void update(const unsigned char* p, size_t n) {
    bits += 8 * n;
    while (n--) {
      block[used++] = *p++;
      if (used == 64) {
        compress();
        used = 0;
      }
    }
  }
  std::string hex() {
    std::uint64_t total = bits;
    unsigned char pad = 0x80;
    update(&pad, 1);
    unsigned char zero = 0;
    while (used != 56) update(&zero, 1);
    for (int i = 7; i >= 0; --i) {
      unsigned char b = static_cast<unsigned char>(total >> (8 * i));
      update(&b, 1);
    }
    std::string s;
    for (auto x : h) s += fmt::format("{:08x}", x);
    return s;
  }
};
}  // namespace

std::string file_checksum(const std::string& path, const Comm& comm) {
  std::string hex;
  if (comm.is_root()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(fmt::format("cannot read '{}'", path));
    Sha256 sha;
    std::vector<char> buf(1 << 20);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      sha.update(reinterpret_cast<const unsigned char*>(buf.data()), static_cast<size_t>(in.gcount()));
    }
    hex = "sha256:" + sha.hex();
  }
  comm.bcast(hex);
  return hex;
}

}  // namespace attnpaths
