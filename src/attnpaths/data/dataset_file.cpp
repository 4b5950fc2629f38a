// Dataset files (docs/files.md §1): validated parallel reading, collective writing.
#include "attnpaths/data/dataset_file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <future>
#include <limits>

#include "attnpaths/core/buffer.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/runtime.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/io/run_record.hpp"

namespace attnpaths {

namespace {

constexpr const char* format_name = "attnpaths-dataset";
constexpr int format_version = 1;


std::string dims_string(const h5::Dims& d) { return fmt::format("[{}]", fmt::join(d, ", ")); }

// Global flat index of the first non-finite entry over all ranks (the same on every rank), or −1.
// `offset` is the global flat index of local[0].
std::int64_t first_nonfinite(const double* local, std::size_t n, std::int64_t offset, const Comm& comm) {
  std::int64_t first = std::numeric_limits<std::int64_t>::max();
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(local[i])) {
      first = offset + static_cast<std::int64_t>(i);
      break;
    }
  first = comm.min(first);
  return first == std::numeric_limits<std::int64_t>::max() ? -1 : first;
}

h5::Dataset numeric_dataset(const h5::Location& g, const std::string& name) {
  h5::Dataset d = g.dataset(name);  // InputError if missing
  const H5T_class_t c = d.type_class();
  ATTN_REQUIRE(c == H5T_FLOAT || c == H5T_INTEGER, InputError,
               "dataset file '{}': dataset '{}' is not numeric (expected float64 values)", d.file_path(), d.name());
  return d;
}

// Opens /<name>/{x,y} and validates their shapes; T and N0 are set by the first set and checked after.
// The returned set has its count and local rows (block_range), x and y empty.
ExampleSet open_set(const h5::File& file, const std::string& name, const Comm& comm, int& T, int& N0) {
  const std::string& path = file.file_path();
  ATTN_REQUIRE(file.is_group(name), InputError, "dataset file '{}': {} (expected /{}/x [n, T, N0] and /{}/y [n])", path,
               file.exists(name) ? fmt::format("'/{}' is not a group", name) : fmt::format("missing group '/{}'", name),
               name, name);
  const h5::Location g = file.group(name);
  const h5::Dataset xd = numeric_dataset(g, "x"), yd = numeric_dataset(g, "y");
  const h5::Dims xs = xd.dims(), ys = yd.dims();
  ATTN_REQUIRE(xs.size() == 3 && xs[0] >= 1 && xs[1] >= 1 && xs[2] >= 1, InputError,
               "dataset file '{}': dataset '{}' has shape {}, expected [n, T, N0] with n, T, N0 >= 1", path, xd.name(),
               dims_string(xs));
  ATTN_REQUIRE(ys.size() == 1 && ys[0] == xs[0], InputError,
               "dataset file '{}': dataset '{}' has shape {}, expected [{}] (one target per example of '{}')", path,
               yd.name(), dims_string(ys), xs[0], xd.name());
  ATTN_REQUIRE(xs[1] <= 1000000 && xs[2] <= 1000000 && xs[0] < (hsize_t{1} << 48), InputError,
               "dataset file '{}': dataset '{}' has an implausible shape {}", path, xd.name(), dims_string(xs));
  if (T < 0) {
    T = static_cast<int>(xs[1]);
    N0 = static_cast<int>(xs[2]);
  }
  ATTN_REQUIRE(xs[1] == hsize_t(T) && xs[2] == hsize_t(N0), InputError,
               "dataset file '{}': dataset '{}' has shape {}, expected [n, {}, {}] (T and N0 of /train/x)", path,
               xd.name(), dims_string(xs), T, N0);
  ExampleSet set;
  set.name = name;
  set.count = static_cast<std::int64_t>(xs[0]);
  set.local = block_range(set.count, comm.rank(), comm.size());
  return set;
}

// Checks the values of rows [set.local) just read from /<set.name>/{x,y} (collective): finite x and y,
// and squared example norms that do not overflow. One pass: the norm of an example with a NaN or
// Inf is not finite, so the entries are searched only then.
void check_values(const ExampleSet& set, const std::string& path, int T, int N0, const Comm& comm) {
  const std::int64_t per_example = std::int64_t{T} * N0;
  std::vector<double> norm2(sz(set.local.size()), 0.0);
  for (std::size_t mu = 0; mu < norm2.size(); ++mu) {
    const double* x = set.x.data() + mu * sz(per_example);
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (std::int64_t i = 0; i < per_example; ++i) s += x[i] * x[i];
    norm2[mu] = s;
  }
  const std::string x_name = "/" + set.name + "/x", y_name = "/" + set.name + "/y";
  const bool suspect = comm.any(std::any_of(norm2.begin(), norm2.end(), [](double v) { return !std::isfinite(v); }));
  if (suspect) {
    if (const std::int64_t bad = first_nonfinite(set.x.data(), set.x.size(), set.local.begin * per_example, comm); bad >= 0)
      throw InputError(fmt::format(
          "dataset file '{}': dataset '{}' has a non-finite value (NaN or Inf) at example {}, token {}, feature {} "
          "(expected finite values)",
          path, x_name, bad / per_example, (bad / N0) % T, bad % N0));
  }
  if (const std::int64_t bad = first_nonfinite(set.y.data(), set.y.size(), set.local.begin, comm); bad >= 0)
    throw InputError(fmt::format(
        "dataset file '{}': dataset '{}' has a non-finite value (NaN or Inf) at example {} (expected finite targets)",
        path, y_name, bad));
  // The kernels are sums of products of x entries: an example whose squared norm overflows cannot be used.
  if (suspect) {
    if (const std::int64_t bad = first_nonfinite(norm2.data(), norm2.size(), set.local.begin, comm); bad >= 0)
      throw InputError(fmt::format(
          "dataset file '{}': dataset '{}' is too large in magnitude: the squared norm of example {} overflows "
          "(|x| must stay well below 1e154; rescale the inputs)",
          path, x_name, bad));
  }
}

// Classification targets must be ±1 (accuracy is the sign agreement f̄·y > 0): an InputError naming the
// values found (up to 8 distinct, over all ranks) otherwise, e.g. labels 0/1.
void require_plus_minus_one(const ExampleSet& set, const std::string& path, const Comm& comm) {
  std::vector<double> distinct;  // up to 8 distinct local values
  bool bad = false;
  for (double y : set.y) {
    bad = bad || (y != 1.0 && y != -1.0);
    if (distinct.size() < 8 && std::find(distinct.begin(), distinct.end(), y) == distinct.end()) distinct.push_back(y);
  }
  if (!comm.any(bad)) return;
  std::vector<double> found = comm.allgather_blocks(distinct);
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  if (found.size() > 8) found.resize(8);
  throw InputError(fmt::format(
      "dataset file '{}': /{}/y holds the labels {{{}}}{}, but a classification dataset needs y ∈ {{-1, +1}} (the "
      "accuracy is the sign of f̄·y): map the classes to -1 and +1, or declare real-valued targets with the root "
      "attribute targets = \"regression\" (docs/data.md)",
      path, set.name, fmt::join(found, ", "), found.size() == 8 ? ", …" : ""));
}

// Reads a replicated weight array [H, rows, N0] and checks its shape and values.
std::vector<double> read_weights(const h5::Location& g, const std::string& name, const h5::Dims& expected,
                                 const std::string& expected_text, const Comm& comm) {
  const h5::Dataset d = numeric_dataset(g, name);
  const h5::Dims dims = d.dims();
  ATTN_REQUIRE(dims == expected, InputError, "dataset file '{}': dataset '{}' has shape {}, expected {} = {}",
               d.file_path(), d.name(), dims_string(dims), expected_text, dims_string(expected));
  std::vector<double> w = d.read_all<double>();
  if (const std::int64_t bad = first_nonfinite(w.data(), w.size(), 0, comm); bad >= 0) {
    const auto cols = static_cast<std::int64_t>(dims[2]), rows = static_cast<std::int64_t>(dims[1]);
    throw InputError(fmt::format(
        "dataset file '{}': dataset '{}' has a non-finite value (NaN or Inf) at head {}, row {}, column {} "
        "(expected finite weights)",
        d.file_path(), d.name(), bad / (rows * cols), (bad / cols) % rows, bad % cols));
  }
  return w;
}

AttentionSpec read_attention(const h5::File& file, int N0, const Comm& comm) {
  const std::string& path = file.file_path();
  ATTN_REQUIRE(file.is_group("attention"), InputError,
               "dataset file '{}': missing group '/attention' (expected attributes layers, readout, nonlinearity and "
               "groups layer_1..layer_L)",
               path);
  const h5::Location a = file.group("attention");
  AttentionSpec spec;
  const std::int64_t L = a.attr_int("layers");
  ATTN_REQUIRE(L >= 1 && L <= 64, InputError, "dataset file '{}': attribute /attention@layers = {}, expected L >= 1",
               path, L);
  spec.readout = parse_readout(a.attr_string("readout"), fmt::format("dataset file '{}', /attention@readout", path));
  spec.nonlinearity =
      parse_nonlinearity(a.attr_string("nonlinearity"), fmt::format("dataset file '{}', /attention@nonlinearity", path));

  std::vector<std::string> found;
  for (const auto& c : a.children())
    if (c.rfind("layer_", 0) == 0) found.push_back(c);
  std::vector<std::string> expected;
  for (std::int64_t l = 1; l <= L; ++l) expected.push_back(fmt::format("layer_{}", l));
  bool all_present = found.size() == expected.size();
  for (const auto& e : expected) all_present = all_present && a.is_group(e);
  ATTN_REQUIRE(all_present, InputError,
               "dataset file '{}': /attention@layers = {} expects the groups {} under /attention, found [{}]", path, L,
               fmt::join(expected, ", "), fmt::join(found, ", "));

  for (std::int64_t l = 1; l <= L; ++l) {
    const h5::Location g = a.group(fmt::format("layer_{}", l));
    AttentionLayer layer;
    layer.style = parse_attention_style(g.attr_string("style"),
                                        fmt::format("dataset file '{}', {}@style", path, g.name()));
    const auto n0 = static_cast<hsize_t>(N0);
    if (layer.style == AttentionStyle::w) {
      const h5::Dims wd = numeric_dataset(g, "w").dims();
      ATTN_REQUIRE(wd.size() == 3 && wd[0] >= 1 && wd[0] <= 4096, InputError,
                   "dataset file '{}': dataset '{}/w' has shape {}, expected [H, N0, N0] = [H, {}, {}] with H >= 1",
                   path, g.name(), dims_string(wd), N0, N0);
      layer.heads = static_cast<int>(wd[0]);
      layer.w = read_weights(g, "w", {wd[0], n0, n0}, "[H, N0, N0]", comm);
    } else {
      const h5::Dims qd = numeric_dataset(g, "q").dims();
      ATTN_REQUIRE(qd.size() == 3 && qd[0] >= 1 && qd[0] <= 4096 && qd[1] >= 1 && qd[1] <= 1000000, InputError,
                   "dataset file '{}': dataset '{}/q' has shape {}, expected [H, G, N0] = [H, G, {}] with H, G >= 1",
                   path, g.name(), dims_string(qd), N0);
      layer.heads = static_cast<int>(qd[0]);
      layer.qk_dim = static_cast<int>(qd[1]);
      layer.q = read_weights(g, "q", {qd[0], qd[1], n0}, "[H, G, N0]", comm);
      layer.k = read_weights(g, "k", {qd[0], qd[1], n0}, "[H, G, N0] (the shape of q)", comm);
    }
    spec.layers.push_back(std::move(layer));
  }

  ATTN_REQUIRE(spec.paths() <= 1000000, InputError, "dataset file '{}': {} attention paths is implausible", path,
               spec.paths());
  if (a.has_attr("path_labels")) {
    spec.path_labels = a.attr_strings("path_labels");
    ATTN_REQUIRE(static_cast<int>(spec.path_labels.size()) == spec.paths(), InputError,
                 "dataset file '{}': attribute /attention@path_labels has {} entries, expected H_tot = {} (heads {})",
                 path, spec.path_labels.size(), spec.paths(), fmt::join(spec.heads(), "×"));
  } else {
    spec.path_labels = spec.default_path_labels();
  }
  return spec;
}

void write_set(const h5::File& file, const ExampleSet& set, int T, int N0, const Comm& comm) {
  const std::int64_t n = set.local.size();
  const Range expected = block_range(set.count, comm.rank(), comm.size());
  const bool ok = set.local.begin == expected.begin && set.local.end == expected.end &&
                  set.x.size() == sz(n) * sz(T) * sz(N0) && set.y.size() == sz(n);
  ATTN_REQUIRE(comm.all(ok), InputError,
               "write_dataset '{}': example set '{}' is not distributed as block_range of {} rows of [{}, {}] over the "
               "{} ranks",
               file.file_path(), set.name, set.count, T, N0, comm.size());
  const double dummy = 0.0;
  const auto count = static_cast<hsize_t>(set.count);
  auto x = file.create_dataset<double>(set.name + "/x", {count, static_cast<hsize_t>(T), static_cast<hsize_t>(N0)});
  x.write_rows<double>(set.local.begin, n, n ? set.x.data() : &dummy);
  auto y = file.create_dataset<double>(set.name + "/y", {count});
  y.write_rows<double>(set.local.begin, n, n ? set.y.data() : &dummy);
}

// One block's rows: generated into by the main thread, then written from while the next block is
// generated (on huge pages: a fresh 256 MiB block costs ~65,000 page faults otherwise).
struct BlockRows {
  Buffer<double> x, y;
  Buffer<float> xf;  // x as float32, for a float32 file
};

// Writes `rows` [lo, lo + n) of /<set>/x and /<set>/y (collective).
void write_block(const h5::Dataset& x, const h5::Dataset& y, std::int64_t lo, std::int64_t n, bool float32,
                 BlockRows& rows) {
  if (float32) {
    rows.xf.assign(rows.x.begin(), rows.x.end());
    x.write_rows<float>(lo, n, rows.xf.data());
  } else {
    x.write_rows<double>(lo, n, rows.x.data());
  }
  y.write_rows<double>(lo, n, rows.y.data());
}

// /<set>/x and /<set>/y filled block by block by `fill` (collective: every rank writes as many blocks).
// Each block is written on a thread of its own while `fill` generates the next (two blocks in memory;
// StreamedWrite::write_behind); "write" times the waits for those writes.
void write_streamed_set(const h5::File& file, const ExampleSet& set, int T, int N0, const RowSource& fill,
                        const StreamedWrite& how, const Comm& comm, StageTimers& timers) {
  const auto count = static_cast<hsize_t>(set.count);
  const h5::Dims dims{count, static_cast<hsize_t>(T), static_cast<hsize_t>(N0)};
  // Every row is written below: no fill value written first (that would double the I/O).
  const h5::Dataset x = how.float32 ? file.create_dataset<float>(set.name + "/x", dims, {}, {}, false)
                                    : file.create_dataset<double>(set.name + "/x", dims, {}, {}, false);
  const h5::Dataset y = file.create_dataset<double>(set.name + "/y", {count}, {}, {}, false);
  const std::int64_t b = std::max<std::int64_t>(1, how.block_examples);
  const std::int64_t blocks = std::max<std::int64_t>(1, (block_range(set.count, 0, comm.size()).size() + b - 1) / b);
  const std::size_t per_example = sz(T) * sz(N0);
  const bool behind = mpi_allows_helper_thread() && how.write_behind.value_or(rank_cores(comm) >= 2);
  BlockRows rows[2];          // block k in rows[k % 2] (written behind), else in rows[0]
  std::future<void> writing;  // the write of block k − 1, while block k is generated
  const auto wait = [&] {
    auto t = timers.stage("write");
    if (writing.valid()) writing.get();
  };
  for (std::int64_t k = 0; k < blocks; ++k) {
    const std::int64_t lo = std::min(set.local.end, set.local.begin + k * b), hi = std::min(set.local.end, lo + b);
    BlockRows& r = rows[behind ? k % 2 : 0];  // block k − 2's write ended before block k − 1's began
    resize_buffer(r.x, sz(hi - lo) * per_example + 1);  // + 1: a valid pointer for an empty block
    resize_buffer(r.y, sz(hi - lo) + 1);
    {
      auto t = timers.stage("generate");
      fill(set, Range{lo, hi}, r.x.data(), r.y.data());
    }
    if (behind) {
      wait();  // for block k − 1's write
      writing = std::async(std::launch::async, write_block, std::cref(x), std::cref(y), lo, hi - lo, how.float32,
                           std::ref(r));
    } else {
      auto t = timers.stage("write");
      write_block(x, y, lo, hi - lo, how.float32, r);
    }
  }
  if (behind) wait();  // for the last block's write
}

// /attention (docs/files.md §1): attributes, then layer_<l> with style and weights (replicated; rank 0 writes).
void write_attention(const h5::File& file, const AttentionSpec& spec, int N0) {
  const auto group = file.create_group("attention");
  group.set_attr("layers", std::int64_t{spec.depth()});
  group.set_attr("readout", to_string(spec.readout));
  group.set_attr("nonlinearity", to_string(spec.nonlinearity));
  if (!spec.path_labels.empty()) group.set_attr("path_labels", spec.path_labels);
  const auto n0 = static_cast<hsize_t>(N0);
  for (int l = 0; l < spec.depth(); ++l) {
    const AttentionLayer& layer = spec.layers[sz(l)];
    const auto g = group.create_group(fmt::format("layer_{}", l + 1));
    g.set_attr("style", to_string(layer.style));
    const auto h = static_cast<hsize_t>(layer.heads);
    if (layer.style == AttentionStyle::w) {
      g.write<double>("w", {h, n0, n0}, layer.w);
    } else {
      const auto G = static_cast<hsize_t>(layer.qk_dim);
      g.write<double>("q", {h, G, n0}, layer.q);
      g.write<double>("k", {h, G, n0}, layer.k);
    }
  }
}

}  // namespace

void write_dataset_streamed(const std::string& path, const Dataset& header, const RowSource& fill,
                            const StreamedWrite& how, const Comm& comm, const Config& config, Provenance& prov,
                            StageTimers& timers) {
  h5::OutputFile out(path, comm);
  const h5::File& file = out.file();
  write_format(file, format_name, format_version);
  file.set_attr("task", header.task);
  file.set_attr("targets", header.regression ? "regression" : "classification");
  std::vector<const ExampleSet*> sets{&header.train, &header.test};
  if (header.validation) sets.push_back(&*header.validation);
  for (const auto& o : header.ood) sets.push_back(&o);
  for (const ExampleSet* set : sets)
    write_streamed_set(file, *set, header.tokens, header.token_dim, fill, how, comm, timers);
  auto t = timers.stage("write");
  write_attention(file, header.attention, header.token_dim);
  write_config(file, config);
  prov.finish();
  write_provenance(file, prov, timers);
  out.commit();
}

DatasetReader::DatasetReader(const std::string& path, const Comm& comm, bool checksum)
    : file_(path, comm, h5::File::Mode::read), comm_(comm) {
  const std::string format = file_.attr_string("format");
  ATTN_REQUIRE(format == format_name, InputError, "dataset file '{}': root attribute format = '{}', expected '{}'", path,
               format, format_name);
  const std::int64_t version = file_.attr_int("version");
  ATTN_REQUIRE(version == format_version, InputError,
               "dataset file '{}': root attribute version = {}, expected {} (this attnpaths reads version {})", path,
               version, format_version, format_version);
  Dataset& d = header_;
  d.path = path;
  d.task = file_.attr_string("task");
  int T = -1, N0 = -1;
  d.train = open_set(file_, "train", comm, T, N0);
  d.test = open_set(file_, "test", comm, T, N0);
  if (file_.exists("validation")) d.validation = open_set(file_, "validation", comm, T, N0);
  if (file_.exists("ood")) {
    ATTN_REQUIRE(file_.is_group("ood"), InputError,
                 "dataset file '{}': '/ood' is not a group (expected /ood/<name>/x, y)", path);
    for (const auto& name : file_.group("ood").children()) d.ood.push_back(open_set(file_, "ood/" + name, comm, T, N0));
  }
  d.tokens = T;
  d.token_dim = N0;
  const std::string targets = file_.has_attr("targets") ? file_.attr_string("targets") : "classification";
  ATTN_REQUIRE(targets == "classification" || targets == "regression", InputError,
               "dataset file '{}': root attribute targets = '{}', expected \"classification\" or \"regression\"", path,
               targets);
  d.regression = targets == "regression";
  d.attention = read_attention(file_, N0, comm);
  if (checksum) d.checksum = content_checksum(path, comm);
}

const ExampleSet& DatasetReader::set(const std::string& name) const {
  if (name == "train") return header_.train;
  if (name == "test") return header_.test;
  if (header_.validation && name == "validation") return *header_.validation;
  for (const auto& o : header_.ood)
    if (o.name == name) return o;
  throw InputError(fmt::format("dataset file '{}' has no example set '{}'", header_.path, name));
}

ExampleSet DatasetReader::read_rows(const std::string& name, std::int64_t begin, std::int64_t end) const {
  ExampleSet out;
  read_rows_into(name, begin, end, out);
  return out;
}

void DatasetReader::read_rows_into(const std::string& name, std::int64_t begin, std::int64_t end, ExampleSet& out,
                                   bool each_rank_alone, StreamedChecksum* checksum) const {
  const ExampleSet& whole = set(name);
  ATTN_REQUIRE(begin >= whole.local.begin && begin <= end && end <= whole.local.end, LibraryError,
               "internal: rows [{}, {}) of '{}' are outside this rank's shard [{}, {})", begin, end, name,
               whole.local.begin, whole.local.end);
  out.name = name;
  out.count = whole.count;
  out.local = Range{begin, end};
  const std::int64_t n = end - begin;
  resize_buffer(out.x, sz(n) * sz(header_.tokens) * sz(header_.token_dim));
  out.y.resize(sz(n));
  const h5::Location g = file_.group(name);
  if (n > 0) {
    const h5::Dataset x = g.dataset("x");
    if (checksum == nullptr) {
      x.read_rows_into<double>(begin, n, out.x.data());
    } else {
      const std::string path = name + "/x";
      x.read_rows_into(begin, n, out.x.data(), [&](std::int64_t row, std::int64_t m, const float* f32, const double* f64) {
        if (f32 != nullptr) checksum->add_rows(path, row, m, f32);
        if (f64 != nullptr) checksum->add_rows(path, row, m, f64);
      });
    }
    g.dataset("y").read_rows_into<double>(begin, n, out.y.data());
  }
  const Comm self = Comm::view(MPI_COMM_SELF);
  const Comm& checks = each_rank_alone ? self : comm_;
  check_values(out, header_.path, header_.tokens, header_.token_dim, checks);
  if (!header_.regression) require_plus_minus_one(out, header_.path, checks);
}

std::vector<Range> DatasetReader::blocks(const std::string& name, std::int64_t block_examples) const {
  const ExampleSet& whole = set(name);
  const std::int64_t b = std::max<std::int64_t>(1, block_examples);
  // Blocks start at global multiples of b (clipped to the shard); every rank makes as many as the rank
  // whose shard spans the most of them.
  const auto spanned = [b](const Range& r) { return r.size() == 0 ? 0 : (r.end + b - 1) / b - r.begin / b; };
  std::int64_t n = 1;
  for (int rank = 0; rank < comm_.size(); ++rank)
    n = std::max(n, spanned(block_range(whole.count, rank, comm_.size())));
  std::vector<Range> out;
  std::int64_t lo = whole.local.begin;
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t hi = std::min(whole.local.end, (lo / b + 1) * b);
    out.push_back(Range{lo, std::max(lo, hi)});
    lo = std::max(lo, hi);
  }
  return out;
}

std::int64_t block_examples_for(double block_mb, int T, int N0) {
  const double bytes = block_mb * 1024.0 * 1024.0, per_example = 8.0 * T * N0;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(bytes / per_example));
}

void write_dataset_description(const h5::Location& group, const Dataset& data, const std::string& path) {
  group.set_attr("task", data.task);
  group.set_attr("file", path);
  group.set_attr("checksum", data.checksum);
  group.set_attr("T", std::int64_t{data.tokens});
  group.set_attr("N0", std::int64_t{data.token_dim});
  group.set_attr("L", std::int64_t{data.attention.depth()});
  const auto heads = data.attention.heads();
  group.set_attr("heads", std::vector<std::int64_t>(heads.begin(), heads.end()));
  group.set_attr("H_tot", std::int64_t{data.attention.paths()});
  group.set_attr("path_labels", data.attention.labels());
}

Dataset read_dataset(const std::string& path, const Comm& comm) {
  const DatasetReader reader(path, comm);
  Dataset d = reader.header();
  d.train = reader.read_rows("train", d.train.local.begin, d.train.local.end);
  d.test = reader.read_rows("test", d.test.local.begin, d.test.local.end);
  if (d.validation) d.validation = reader.read_rows("validation", d.validation->local.begin, d.validation->local.end);
  for (auto& o : d.ood) o = reader.read_rows(o.name, o.local.begin, o.local.end);
  return d;
}

void write_dataset(const std::string& path, const Dataset& d, const Comm& comm, const Config& config,
                   const Provenance& prov, const StageTimers& timers,
                   const std::function<void(const h5::File&)>& extra) {
  h5::OutputFile out(path, comm);
  const h5::File& file = out.file();
  write_format(file, format_name, format_version);
  file.set_attr("task", d.task);
  file.set_attr("targets", d.regression ? "regression" : "classification");
  write_set(file, d.train, d.tokens, d.token_dim, comm);
  write_set(file, d.test, d.tokens, d.token_dim, comm);
  if (d.validation) write_set(file, *d.validation, d.tokens, d.token_dim, comm);
  for (const auto& o : d.ood) write_set(file, o, d.tokens, d.token_dim, comm);

  write_attention(file, d.attention, d.token_dim);  // its group handles are closed before commit()
  if (extra) extra(file);
  write_config(file, config);
  write_provenance(file, prov, timers);
  out.commit();
}

}  // namespace attnpaths
