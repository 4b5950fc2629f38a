// /config and /provenance, and the XXH64 file checksum against published test vectors
// (identical to `xxhsum -H1`).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "attnpaths/core/error.hpp"
#include "attnpaths/io/run_record.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {
std::string write_file(const std::string& path, const std::string& bytes) {
  if (test::world().is_root()) std::ofstream(path, std::ios::binary) << bytes;
  test::world().barrier();
  return path;
}
}  // namespace

TEST(Checksum, Xxh64KnownVectors) {
  const std::string dir = test::scratch_dir("checksum");
  const Comm& w = test::world();
  EXPECT_EQ(file_checksum(write_file(dir + "/empty", ""), w), "xxh64:ef46db3751d8e999");
  EXPECT_EQ(file_checksum(write_file(dir + "/abc", "abc"), w), "xxh64:44bc2cf5ad770999");
  // > 32 bytes exercises the stripe loop and the tail
  const std::string fox = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(file_checksum(write_file(dir + "/fox", fox), w), "xxh64:0b242d361fda71bc");
}

// The content checksum: the same groups, datasets and attributes give the same checksum whatever the
// provenance (times, host) and the storage layout; a changed value, name or attribute changes it.
TEST(Checksum, ContentNotBytes) {
  const Comm& w = test::world();
  const std::string dir = test::scratch_dir("content-checksum");
  auto make = [&](const std::string& name, double value, bool chunked, const std::string& when, const char* style) {
    const std::string path = dir + "/" + name;
    {
      h5::File f(path, w, h5::File::Mode::create);
      f.set_attr("format", "attnpaths-dataset");
      auto g = f.create_group("attention/layer_1");
      g.set_attr("style", style);
      const std::vector<double> x = {1.0, 2.0, value, 4.0};
      if (chunked) {
        auto d = f.create_dataset<double>("train/x", {2, 2}, {H5S_UNLIMITED, 2}, {1, 2});
        d.write_root<double>(x.data());
      } else {
        f.write<double>("train/x", {2, 2}, x);
      }
      f.create_group("provenance").set_attr("start_time", when);
    }
    return content_checksum(path, w);
  };
  const std::string a = make("a.h5", 3.0, false, "2026-01-01", "w");
  EXPECT_EQ(a.rfind("xxh64-content-v2:", 0), 0u) << a;
  EXPECT_EQ(make("b.h5", 3.0, true, "2027-02-02", "w"), a);  // other layout and time: same content
  EXPECT_NE(make("c.h5", 3.5, false, "2026-01-01", "w"), a);  // one value differs
  EXPECT_NE(make("d.h5", 3.0, false, "2026-01-01", "qk"), a);  // one attribute differs
  EXPECT_NE(file_checksum(dir + "/a.h5", w), file_checksum(dir + "/b.h5", w));
}

// The checksum's chunks are hashed in parallel (chunk g on rank g mod ranks): the same file gives this
// same value on 1, 2 and 4 ranks (the test runs on each). 10000 × 64 doubles are 3 chunks of 4096 rows,
// 600000 floats 2 chunks, plus an integer dataset of one short chunk and a float64 and a float32
// scalar; the value pins the definition of docs/files.md "Data checksum" (a change of chunking, order
// or prefix changes it).
TEST(Checksum, ContentIndependentOfRankCount) {
  const Comm& w = test::world();
  const std::string path = test::scratch_dir("content-checksum-ranks") + "/many.h5";
  {
    h5::File f(path, w, h5::File::Mode::create);
    std::vector<double> x(10000 * 64);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.001 * static_cast<double>(i));
    f.write<double>("train/x", {10000, 64}, x);
    f.write<std::int64_t>("train/n", {3}, std::vector<std::int64_t>{1, 2, 3});
    std::vector<float> x32(600000);  // float32, hashed as stored: 2 chunks of 524288 values
    for (std::size_t i = 0; i < x32.size(); ++i) x32[i] = static_cast<float>(i % 1000) * 0.5f;
    f.write<float>("train/x32", {600000}, x32);
    f.write_scalar<double>("scale", 2.5);
    f.write_scalar<float>("scale32", 0.75f);
    f.set_attr("format", "attnpaths-dataset");
  }
  const std::string sum = content_checksum(path, w);
  EXPECT_EQ(sum, "xxh64-content-v2:451fd71458ab7948") << w.size() << " rank(s)";
  // A value in the last chunk changes it.
  if (w.is_root()) {
    const Comm self = Comm::view(MPI_COMM_SELF);
    h5::File f(path, self, h5::File::Mode::read_write);
    std::vector<double> one = {7.0};
    f.dataset("train/x").write_slab<double>({9999, 63}, {1, 1}, one.data());
  }
  w.barrier();
  EXPECT_NE(content_checksum(path, w), sum);
}

// The same checksum from rows streamed in blocks (StreamedChecksum): each rank hands its shard of
// train/x in blocks of 1000 rows (chunks of 4096 rows begin in one block and end in the next, and the
// shard edges split chunks between ranks), rank 0's second block withheld (the chunk it falls
// in must not be hashed from the rest), and train/x32 in blocks of 70000 floats (widened to double
// they are ignored: float32 is hashed as stored). finish() reads what was not streamed whole. An
// unknown name and rows past the end are ignored.
TEST(Checksum, StreamedEqualsWholeFile) {
  const Comm& w = test::world();
  const std::string path = test::scratch_dir("content-checksum-streamed") + "/many.h5";
  std::vector<double> x(10000 * 64);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.001 * static_cast<double>(i));
  std::vector<float> x32(600000);
  for (std::size_t i = 0; i < x32.size(); ++i) x32[i] = static_cast<float>(i % 1000) * 0.5f;
  {
    h5::File f(path, w, h5::File::Mode::create);
    f.write<double>("train/x", {10000, 64}, x);
    f.write<std::int64_t>("train/n", {3}, std::vector<std::int64_t>{1, 2, 3});
    f.write<float>("train/x32", {600000}, x32);
    f.write_scalar<double>("scale", 2.5);
    f.write_scalar<float>("scale32", 0.75f);
    f.set_attr("format", "attnpaths-dataset");
  }
  const auto streamed = [&](const std::vector<double>& values, const std::vector<float>& floats) {
    StreamedChecksum sum(path, w);
    sum.add_rows("train/missing", 0, 1, values.data());
    const Range mine = block_range(10000, w.rank(), w.size());
    for (std::int64_t lo = mine.begin; lo < mine.end; lo += 1000) {
      if (w.rank() == 0 && lo == 1000) continue;  // withheld: a gap in chunk 0
      sum.add_rows("train/x", lo, std::min<std::int64_t>(1000, mine.end - lo), values.data() + lo * 64);
    }
    sum.add_rows("train/x", 9999, 2, values.data());  // past the end
    const Range mine32 = block_range(600000, w.rank(), w.size());
    std::vector<double> wide(floats.begin(), floats.end());
    for (std::int64_t lo = mine32.begin; lo < mine32.end; lo += 70000) {
      const std::int64_t n = std::min<std::int64_t>(70000, mine32.end - lo);
      sum.add_rows("train/x32", lo, n, wide.data() + lo);  // not as it is hashed: ignored
      sum.add_rows("train/x32", lo, n, floats.data() + lo);
    }
    return sum.finish();
  };
  const std::string golden = "xxh64-content-v2:451fd71458ab7948";
  EXPECT_EQ(streamed(x, x32), golden) << w.size() << " rank(s)";
  // The last chunks (x rows 8192–9999, x32 values 524288–599999) lie in one rank's shard on 1, 2 and 4
  // ranks, so they are hashed from the streamed rows, not read again: a streamed value that differs from
  // the file's shows.
  std::vector<double> other = x;
  other[9000 * 64] += 1.0;
  EXPECT_NE(streamed(other, x32), golden) << w.size() << " rank(s)";
  std::vector<float> other32 = x32;
  other32[590000] += 1.0f;
  EXPECT_NE(streamed(x, other32), golden) << w.size() << " rank(s)";
}

// A file that cannot be read fails on every rank with the same message (no rank hangs).
TEST(Checksum, ContentErrorOnEveryRank) {
  const Comm& w = test::world();
  const std::string path = write_file(test::scratch_dir("content-checksum-bad") + "/not.h5", "not an HDF5 file");
  try {
    content_checksum(path, w);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not.h5"), std::string::npos) << e.what();
  }
}

TEST(RunRecord, ConfigAndProvenance) {
  const Comm& w = test::world();
  const std::string path = test::scratch_dir("run-record") + "/r.h5";
  Config c;
  c.set("widths", std::vector<int>{10, 30});
  c.set("temperature", 0.01);
  c.set("form", "auto");
  c.set("labels", std::vector<std::string>{"g", "d"});
  StageTimers timers;
  {
    auto s = timers.stage("step");
    volatile double spin = 0;  // some CPU time in the stage
    for (int i = 0; i < 2000000; ++i) spin = spin + 1e-9 * i;
  }
  Provenance p = Provenance::collect(w, {"attnpaths", "theory"});
  p.finish();
  {
    h5::File f(path, w, h5::File::Mode::create);
    write_format(f, "attnpaths-test", 1);
    write_config(f, c);
    write_provenance(f, p, timers);
  }
  h5::File f(path, w, h5::File::Mode::read);
  EXPECT_EQ(f.attr_string("format"), "attnpaths-test");
  const auto cfg = f.group("config");
  EXPECT_EQ(cfg.attr_ints("widths"), (std::vector<std::int64_t>{10, 30}));
  EXPECT_EQ(cfg.attr_double("temperature"), 0.01);
  EXPECT_EQ(cfg.attr_string("form"), "auto");
  const auto prov = f.group("provenance");
  EXPECT_EQ(prov.attr_int("mpi_ranks"), w.size());
  EXPECT_EQ(prov.attr_string("command_line"), "attnpaths theory");
  EXPECT_FALSE(prov.attr_string("git_commit").empty());
  EXPECT_EQ(f.group("provenance/timing").attr_strings("stage"), (std::vector<std::string>{"step"}));
  const auto cpu = f.group("provenance/timing").attr_doubles("cpu_seconds");
  ASSERT_EQ(cpu.size(), 1u);
  EXPECT_GT(cpu[0], 0.0);
  EXPECT_LT(cpu[0], 10.0 * f.group("provenance/timing").attr_doubles("seconds")[0] + 0.01);
}
