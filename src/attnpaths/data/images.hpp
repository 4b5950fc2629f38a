// Image inputs of the one-shot task (docs/data.md, "Omniglot and MNIST episodes"), read with Debian
// libraries only: zip archives with libzip, PNG with libpng, gzip'd (or plain) IDX files with zlib;
// and an exact port of Pillow's antialiased bilinear resize for 8-bit grey images.
// Every failure (missing or corrupt file, bad checksum, unexpected format) is an InputError naming
// the file, the member or index, and what was expected.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attnpaths {

// A zip archive opened read-only (consistency-checked). `role` names the option it came from.
class ZipArchive {
 public:
  ZipArchive(const std::string& path, const std::string& role);
  ~ZipArchive();
  ZipArchive(ZipArchive&&) noexcept;
  ZipArchive& operator=(ZipArchive&&) noexcept;
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  const std::string& path() const { return path_; }
  std::vector<std::string> members() const;  // archive order
  bool contains(const std::string& member) const;
  std::uint32_t crc(const std::string& member) const;  // CRC-32 of the stored member
  // The member's bytes (the CRC is checked while reading).
  std::vector<unsigned char> read(const std::string& member) const;

 private:
  struct Handle;
  std::string path_, role_;
  std::unique_ptr<Handle> handle_;
};

struct GreyImage {
  int width = 0, height = 0;
  std::vector<std::uint8_t> pixels;  // [height, width], row-major
};

// Decodes a PNG that must be `side`×`side`, grey (colour type 0), bit depth 1 (the Omniglot format)
// into values 0 / 255 (bit 1 → 255). `where` names the image in error messages.
GreyImage decode_png_1bit(const std::vector<unsigned char>& bytes, int side, const std::string& where);

// IDX files (big-endian header; gzip'd or not): images (magic 2051) [n, rows, cols] uint8 and
// labels (magic 2049) [n] uint8.
struct IdxImages {
  std::int64_t count = 0;
  int rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // [count, rows, cols]
};
IdxImages read_idx_images(const std::string& path, const std::string& role);
std::vector<std::uint8_t> read_idx_labels(const std::string& path, const std::string& role);

// Pillow's Image.resize((out_w, out_h), Image.BILINEAR) of an 8-bit grey ("L") image: a triangle
// filter whose support is scaled by the reduction factor (plain bilinear when enlarging), fixed-point
// coefficients (22 fractional bits), a horizontal pass rounded to uint8, then a vertical pass.
std::vector<std::uint8_t> resize_bilinear_pillow(const std::uint8_t* in, int in_w, int in_h, int out_w, int out_h);

}  // namespace attnpaths
