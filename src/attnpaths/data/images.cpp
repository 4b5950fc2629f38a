// Image inputs: libzip, libpng, zlib, and the port of Pillow's Resample.c (8-bit, BILINEAR).
#include "attnpaths/data/images.hpp"

#include <fmt/format.h>
#include <png.h>
#include <zip.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"

namespace attnpaths {

// ------------------------------------------------------------------------------------------------ zip

struct ZipArchive::Handle {
  zip_t* zip = nullptr;
  ~Handle() {
    if (zip) zip_discard(zip);  // read-only: nothing to write back
  }
};

ZipArchive::ZipArchive(const std::string& path, const std::string& role)
    : path_(path), role_(role), handle_(std::make_unique<Handle>()) {
  int code = 0;
  handle_->zip = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
  if (!handle_->zip) {
    zip_error_t e;
    zip_error_init_with_code(&e, code);
    const std::string why = zip_error_strerror(&e);
    zip_error_fini(&e);
    throw InputError(fmt::format("cannot open zip archive '{}' ({}): {}", path, role, why));
  }
}

ZipArchive::~ZipArchive() = default;
ZipArchive::ZipArchive(ZipArchive&&) noexcept = default;
ZipArchive& ZipArchive::operator=(ZipArchive&&) noexcept = default;

std::vector<std::string> ZipArchive::members() const {
  const zip_int64_t n = zip_get_num_entries(handle_->zip, 0);
  std::vector<std::string> names;
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* name = zip_get_name(handle_->zip, static_cast<zip_uint64_t>(i), 0);
    ATTN_REQUIRE(name, InputError, "zip archive '{}' ({}): cannot read the name of entry {}: {}", path_, role_, i,
                 zip_strerror(handle_->zip));
    names.emplace_back(name);
  }
  return names;
}

bool ZipArchive::contains(const std::string& member) const {
  return zip_name_locate(handle_->zip, member.c_str(), 0) >= 0;
}

std::uint32_t ZipArchive::crc(const std::string& member) const {
  zip_stat_t st;
  zip_stat_init(&st);
  ATTN_REQUIRE(zip_stat(handle_->zip, member.c_str(), 0, &st) == 0 && (st.valid & ZIP_STAT_CRC), InputError,
               "zip archive '{}' ({}): no member '{}'", path_, role_, member);
  return st.crc;
}

std::vector<unsigned char> ZipArchive::read(const std::string& member) const {
  zip_stat_t st;
  zip_stat_init(&st);
  ATTN_REQUIRE(zip_stat(handle_->zip, member.c_str(), 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE), InputError,
               "zip archive '{}' ({}): no member '{}'", path_, role_, member);
  ATTN_REQUIRE(st.size < (zip_uint64_t{1} << 31), InputError, "zip archive '{}' ({}): member '{}' is implausibly large",
               path_, role_, member);
  zip_file_t* f = zip_fopen(handle_->zip, member.c_str(), 0);
  ATTN_REQUIRE(f, InputError, "zip archive '{}' ({}): cannot open member '{}': {}", path_, role_, member,
               zip_strerror(handle_->zip));
  std::vector<unsigned char> bytes(st.size);
  zip_int64_t got = 0;
  while (got < static_cast<zip_int64_t>(bytes.size())) {
    const zip_int64_t n = zip_fread(f, bytes.data() + got, bytes.size() - static_cast<std::size_t>(got));
    if (n <= 0) break;
    got += n;
  }
  // Reading to the end lets libzip verify the CRC; a short read or a CRC mismatch is an error.
  unsigned char probe = 0;
  const zip_int64_t tail = got == static_cast<zip_int64_t>(bytes.size()) ? zip_fread(f, &probe, 1) : -1;
  const std::string why = tail < 0 ? zip_file_strerror(f) : "";
  zip_fclose(f);
  ATTN_REQUIRE(tail == 0, InputError, "zip archive '{}' ({}): member '{}' is corrupt ({} of {} bytes read{}{})", path_,
               role_, member, got, bytes.size(), why.empty() ? "" : ": ", why);
  return bytes;
}

// ------------------------------------------------------------------------------------------------ png

namespace {

struct PngSource {
  const unsigned char* data;
  std::size_t size, pos;
  char message[256];
};

extern "C" void png_read_memory(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "truncated PNG data");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

extern "C" void png_fail(png_structp png, png_const_charp message) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(src->message, sizeof src->message, "%s", message);
  png_longjmp(png, 1);
}

extern "C" void png_ignore_warning(png_structp, png_const_charp) {}

struct PngHeader {
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, colour_type = 0;
};

enum class PngStatus { ok, corrupt, wrong_format };

// libpng's setjmp error handling: only plain C objects live in this frame. `rows` has `side`
// pointers into the caller's side×side buffer.
PngStatus png_decode(PngSource* src, int side, PngHeader* h, png_bytep* rows) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, src, png_fail, png_ignore_warning);
  if (!png) return PngStatus::corrupt;
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return PngStatus::corrupt;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return PngStatus::corrupt;
  }
  png_set_read_fn(png, src, png_read_memory);
  png_read_info(png, info);
  int interlace = 0;
  png_get_IHDR(png, info, &h->width, &h->height, &h->bit_depth, &h->colour_type, &interlace, nullptr, nullptr);
  const auto s = static_cast<png_uint_32>(side);
  if (h->width != s || h->height != s || h->bit_depth != 1 || h->colour_type != PNG_COLOR_TYPE_GRAY) {
    png_destroy_read_struct(&png, &info, nullptr);
    return PngStatus::wrong_format;
  }
  png_set_expand_gray_1_2_4_to_8(png);  // 1-bit grey → 0 / 255
  if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != s) png_error(png, "unexpected row size after expansion to 8 bits");
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return PngStatus::ok;
}

}  // namespace

GreyImage decode_png_1bit(const std::vector<unsigned char>& bytes, int side, const std::string& where) {
  GreyImage img;
  img.width = img.height = side;
  img.pixels.assign(sz(side) * sz(side), 0);
  std::vector<png_bytep> rows(sz(side));
  for (int r = 0; r < side; ++r) rows[sz(r)] = img.pixels.data() + sz(r) * sz(side);
  PngSource src{bytes.data(), bytes.size(), 0, {0}};
  PngHeader h;
  const PngStatus status = png_decode(&src, side, &h, rows.data());
  ATTN_REQUIRE(status != PngStatus::corrupt, InputError, "{}: not a valid PNG image ({})", where, src.message);
  ATTN_REQUIRE(status == PngStatus::ok, InputError,
               "{}: PNG is {}×{}, colour type {}, bit depth {}; expected {}×{}, grey (colour type 0), bit depth 1 "
               "(the Omniglot format)",
               where, h.width, h.height, h.colour_type, h.bit_depth, side, side);
  return img;
}

// ------------------------------------------------------------------------------------------------ idx

namespace {

// The whole (decompressed) content of a gzip'd or plain file.
std::vector<unsigned char> read_gzip_file(const std::string& path, const std::string& role) {
  gzFile f = gzopen(path.c_str(), "rb");
  ATTN_REQUIRE(f, InputError, "cannot open IDX file '{}' ({}): {}", path, role, std::strerror(errno));
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  int n = 0;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  // A truncated stream ends without error from gzread; gzerror reports it (Z_BUF_ERROR).
  int code = Z_OK;
  const std::string why = gzerror(f, &code);
  gzclose(f);
  ATTN_REQUIRE(n == 0 && (code == Z_OK || code == Z_STREAM_END), InputError, "IDX file '{}' ({}) is corrupt: {}", path,
               role, why);
  return out;
}

std::uint32_t big_endian(const std::vector<unsigned char>& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

}  // namespace

IdxImages read_idx_images(const std::string& path, const std::string& role) {
  const auto bytes = read_gzip_file(path, role);
  ATTN_REQUIRE(bytes.size() >= 16 && big_endian(bytes, 0) == 2051, InputError,
               "IDX file '{}' ({}): not an IDX image file (expected magic 2051 = 0x00000803 and a 16-byte header)", path,
               role);
  IdxImages idx;
  idx.count = big_endian(bytes, 4);
  idx.rows = static_cast<int>(big_endian(bytes, 8));
  idx.cols = static_cast<int>(big_endian(bytes, 12));
  ATTN_REQUIRE(idx.rows >= 1 && idx.cols >= 1 && idx.rows <= 4096 && idx.cols <= 4096, InputError,
               "IDX file '{}' ({}): implausible image size {}×{}", path, role, idx.rows, idx.cols);
  const std::size_t expected = 16 + sz(idx.count) * sz(idx.rows) * sz(idx.cols);
  ATTN_REQUIRE(bytes.size() == expected, InputError,
               "IDX file '{}' ({}): {} bytes after decompression, expected {} (16 + {} images of {}×{})", path, role,
               bytes.size(), expected, idx.count, idx.rows, idx.cols);
  idx.pixels.assign(bytes.begin() + 16, bytes.end());
  return idx;
}

std::vector<std::uint8_t> read_idx_labels(const std::string& path, const std::string& role) {
  const auto bytes = read_gzip_file(path, role);
  ATTN_REQUIRE(bytes.size() >= 8 && big_endian(bytes, 0) == 2049, InputError,
               "IDX file '{}' ({}): not an IDX label file (expected magic 2049 = 0x00000801 and an 8-byte header)", path,
               role);
  const std::size_t count = big_endian(bytes, 4);
  ATTN_REQUIRE(bytes.size() == 8 + count, InputError,
               "IDX file '{}' ({}): {} bytes after decompression, expected {} (8 + {} labels)", path, role, bytes.size(),
               8 + count, count);
  return {bytes.begin() + 8, bytes.end()};
}

// --------------------------------------------------------------------------------------- Pillow resize
// Port of Pillow's src/libImaging/Resample.c (precompute_coeffs, normalize_coeffs_8bpc,
// ImagingResample{Horizontal,Vertical}_8bpc, ImagingResampleInner) for the BILINEAR filter and an
// 8-bit single-band image with the default box (0, 0, in_w, in_h).

namespace {

constexpr int precision_bits = 32 - 8 - 2;

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;         // [out, 2]: xmin, number of taps
  std::vector<std::int32_t> kk;    // [out, ksize] fixed-point weights
};

Coeffs precompute_coeffs(int in_size, float in0, float in1, int out_size) {
  const double support_of_filter = 1.0;  // BILINEAR
  double filterscale = static_cast<double>(in1 - in0) / out_size;
  const double scale = filterscale;
  if (filterscale < 1.0) filterscale = 1.0;
  const double support = support_of_filter * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.assign(sz(out_size) * 2, 0);
  c.kk.assign(sz(out_size) * sz(c.ksize), 0);
  std::vector<double> k(sz(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = static_cast<double>(in0) + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = bilinear_filter((x + xmin - center + 0.5) * ss);
      k[sz(x)] = w;
      ww += w;
    }
    for (int x = 0; x < c.ksize; ++x) {
      double w = x < xmax ? k[sz(x)] : 0.0;
      if (x < xmax && ww != 0.0) w /= ww;
      // normalize_coeffs_8bpc
      c.kk[sz(xx) * sz(c.ksize) + sz(x)] = static_cast<std::int32_t>(w < 0 ? -0.5 + w * (1 << precision_bits)
                                                                            : 0.5 + w * (1 << precision_bits));
    }
    c.bounds[sz(xx) * 2] = xmin;
    c.bounds[sz(xx) * 2 + 1] = xmax;
  }
  return c;
}

std::uint8_t clip8(int in) { return static_cast<std::uint8_t>(std::clamp(in >> precision_bits, 0, 255)); }

}  // namespace

std::vector<std::uint8_t> resize_bilinear_pillow(const std::uint8_t* in, int in_w, int in_h, int out_w, int out_h) {
  if (in_w == out_w && in_h == out_h) return {in, in + sz(in_w) * sz(in_h)};  // Image.resize returns a copy
  Coeffs horiz = precompute_coeffs(in_w, 0.0f, static_cast<float>(in_w), out_w);
  Coeffs vert = precompute_coeffs(in_h, 0.0f, static_cast<float>(in_h), out_h);
  const bool need_horizontal = out_w != in_w, need_vertical = out_h != in_h;
  // First and last used rows of the source image.
  const int ybox_first = vert.bounds[0];
  const int ybox_last = vert.bounds[sz(out_h) * 2 - 2] + vert.bounds[sz(out_h) * 2 - 1];

  std::vector<std::uint8_t> temp;
  const std::uint8_t* src = in;
  int src_w = in_w;
  if (need_horizontal) {  // horizontal pass over the used rows, rounded to uint8
    for (int i = 0; i < out_h; ++i) vert.bounds[sz(i) * 2] -= ybox_first;
    const int rows = ybox_last - ybox_first;
    temp.assign(sz(out_w) * sz(rows), 0);
    for (int yy = 0; yy < rows; ++yy)
      for (int xx = 0; xx < out_w; ++xx) {
        const int xmin = horiz.bounds[sz(xx) * 2], xmax = horiz.bounds[sz(xx) * 2 + 1];
        const std::int32_t* k = &horiz.kk[sz(xx) * sz(horiz.ksize)];
        int ss0 = 1 << (precision_bits - 1);
        for (int x = 0; x < xmax; ++x) ss0 += in[sz(yy + ybox_first) * sz(in_w) + sz(x + xmin)] * k[x];
        temp[sz(yy) * sz(out_w) + sz(xx)] = clip8(ss0);
      }
    src = temp.data();
    src_w = out_w;
  }
  if (!need_vertical) return {src, src + sz(src_w) * sz(out_h)};
  std::vector<std::uint8_t> out(sz(src_w) * sz(out_h));
  for (int yy = 0; yy < out_h; ++yy) {  // vertical pass
    const std::int32_t* k = &vert.kk[sz(yy) * sz(vert.ksize)];
    const int ymin = vert.bounds[sz(yy) * 2], ymax = vert.bounds[sz(yy) * 2 + 1];
    for (int xx = 0; xx < src_w; ++xx) {
      int ss0 = 1 << (precision_bits - 1);
      for (int y = 0; y < ymax; ++y) ss0 += src[sz(y + ymin) * sz(src_w) + sz(xx)] * k[y];
      out[sz(yy) * sz(src_w) + sz(xx)] = clip8(ss0);
    }
  }
  return out;
}

}  // namespace attnpaths
