// The parallel-HDF5 layer: collective row writes from every rank, replicated writes, attributes of
// every type, NaN fill of unwritten values, extendible datasets, and the .partial/commit protocol.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <filesystem>

#include "attnpaths/core/error.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "test_support.hpp"

using namespace attnpaths;

TEST(Hdf5, CollectiveRowsAttributesAndFill) {
  const Comm& w = test::world();
  const std::string path = test::scratch_dir("hdf5-rows") + "/rows.h5";
  const std::int64_t n = 13;
  const Range mine = block_range(n, w.rank(), w.size());
  {
    h5::File f(path, w, h5::File::Mode::create);
    auto d = f.create_dataset<double>("group/x", {static_cast<hsize_t>(n), 3});
    std::vector<double> local;
    for (std::int64_t i = mine.begin; i < mine.end; ++i)
      for (int j = 0; j < 3; ++j) local.push_back(10.0 * static_cast<double>(i) + j);
    d.write_rows<double>(mine.begin, mine.size(), local.data());
    f.create_dataset<double>("unwritten", {4});
    f.write<std::int64_t>("ints", {2}, {7, -3});
    f.write_scalar<double>("scalar", 2.5);
    auto g = f.group("group");
    g.set_attr("s", std::string("héllo"));
    g.set_attr("v", std::vector<double>{1.5, 2.5});
    g.set_attr("i", std::int64_t{42});
    g.set_attr("names", std::vector<std::string>{"g", "a1", "d", "a2"});
  }
  h5::File f(path, w, h5::File::Mode::read);
  const auto x = f.dataset("group/x").read_all<double>();
  ASSERT_EQ(x.size(), static_cast<size_t>(3 * n));
  for (std::int64_t i = 0; i < n; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(x[static_cast<size_t>(3 * i + j)], 10.0 * static_cast<double>(i) + j);
  for (double v : f.dataset("unwritten").read_all<double>()) EXPECT_TRUE(std::isnan(v));
  EXPECT_EQ(f.dataset("ints").read_all<std::int64_t>(), (std::vector<std::int64_t>{7, -3}));
  EXPECT_EQ(f.dataset("scalar").read_all<double>()[0], 2.5);
  const auto g = f.group("group");
  EXPECT_EQ(g.attr_string("s"), "héllo");
  EXPECT_EQ(g.attr_doubles("v"), (std::vector<double>{1.5, 2.5}));
  EXPECT_EQ(g.attr_int("i"), 42);
  EXPECT_EQ(g.attr_strings("names"), (std::vector<std::string>{"g", "a1", "d", "a2"}));
  EXPECT_TRUE(f.exists("group/x"));
  EXPECT_FALSE(f.exists("group/y"));
  EXPECT_FALSE(f.exists("nothing/at/all"));
  EXPECT_THROW(f.dataset("group/y"), InputError);
  EXPECT_THROW(g.attr_string("missing"), InputError);
}

TEST(Hdf5, ExtendibleDataset) {
  const Comm& w = test::world();
  const std::string path = test::scratch_dir("hdf5-extend") + "/ext.h5";
  {
    h5::File f(path, w, h5::File::Mode::create);
    auto d = f.create_dataset<double>("draws", {0, 2}, {H5S_UNLIMITED, 2}, {8, 2});
    for (hsize_t k = 0; k < 3; ++k) {
      d.extend({k + 1, 2});
      const std::vector<double> row{static_cast<double>(k), -static_cast<double>(k)};
      d.write_slab<double>({k, 0}, w.is_root() ? h5::Dims{1, 2} : h5::Dims{0, 0}, row.data());
      f.flush();
    }
  }
  h5::File f(path, w, h5::File::Mode::read);
  EXPECT_EQ(f.dataset("draws").dims(), (h5::Dims{3, 2}));
  EXPECT_EQ(f.dataset("draws").read_all<double>(), (std::vector<double>{0, -0.0, 1, -1, 2, -2}));
}

TEST(Hdf5, PartialFileIsRenamedOnlyByCommit) {
  const Comm& w = test::world();
  const std::string path = test::scratch_dir("hdf5-commit") + "/out.h5";
  {
    h5::OutputFile out(path, w);
    out.file().write_scalar<double>("x", 1.0);
    out.file().flush();
    EXPECT_TRUE(std::filesystem::exists(h5::OutputFile::partial_path(path)));
    EXPECT_FALSE(std::filesystem::exists(path));
    out.commit();
  }
  w.barrier();
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(h5::OutputFile::partial_path(path)));
  {  // a file that cannot close (an object is still open) is not committed
    h5::OutputFile out(path + "2", w);
    auto d = out.file().create_dataset<double>("open", {1});
    EXPECT_THROW(out.commit(), LibraryError);
  }
  w.barrier();
  EXPECT_FALSE(std::filesystem::exists(path + "2"));
}

// OutputFile::claim: the output may be no input, a complete output needs `overwrite`, and a second
// claim of the same output fails while the first holds the lock on FILE.partial.
TEST(Hdf5, OutputClaim) {
  const Comm& w = test::world();
  const std::string dir = test::scratch_dir("output-claim"), in = dir + "/in.h5", out = dir + "/out.h5";
  {
    h5::OutputFile f(in, w);
    f.commit();
  }
  auto message = [&](const std::string& path, const h5::OutputPolicy& policy) -> std::string {
    try {
      const h5::OutputClaim claim = h5::OutputFile::claim(path, w, policy);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message(dir + "/./in.h5", {false, false, {in}}).find("is the input"), std::string::npos);
  EXPECT_NE(message(in, {true, false, {dir + "/../" + std::filesystem::path(dir).filename().string() + "/in.h5"}})
                .find("is the input"),
            std::string::npos);
  EXPECT_NE(message(in, {}).find("already exists"), std::string::npos);
  EXPECT_NE(message(in, {false, true, {}}).find("already complete"), std::string::npos);
  EXPECT_EQ(message(in, {true, false, {}}), "");
  w.barrier();  // rank 0 removes the empty .partial when the claim ends
  EXPECT_FALSE(std::filesystem::exists(h5::OutputFile::partial_path(in)));  // the empty .partial went away
  {
    const h5::OutputClaim first = h5::OutputFile::claim(out, w, {});
    EXPECT_NE(message(out, {}).find("another run is writing"), std::string::npos);
    h5::OutputFile f(out, w);
    f.commit();
  }
  EXPECT_TRUE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists(h5::OutputFile::partial_path(out)));
}

TEST(Hdf5, ClearErrors) {
  const Comm& w = test::world();
  EXPECT_THROW(h5::File("/nonexistent/dir/x.h5", w, h5::File::Mode::read), InputError);
  EXPECT_THROW(h5::check_writable("/proc/forbidden/x.h5"), InputError);
  try {
    h5::File("/nonexistent.h5", w, h5::File::Mode::read);
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent.h5"), std::string::npos);
  }
}

// float64 rows of a float32 dataset are read as stored in ~2 MiB pieces and widened (hdf5.cpp
// read_float32_widened): 1000 rows of 1024 floats are 2 pieces of 512 rows; an unaligned range
// crosses the boundary and equals the stored floats exactly.
TEST(Hdf5, Float32RowsWidenedAcrossPieces) {
  const Comm& w = test::world();
  const std::string path = test::scratch_dir("hdf5-widen") + "/f.h5";
  std::vector<float> x(1000 * 1024);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
  {
    h5::File f(path, w, h5::File::Mode::create);
    f.write<float>("x", {1000, 1024}, x);
  }
  h5::File f(path, w, h5::File::Mode::read);
  std::vector<double> out(900 * 1024, -1.0);
  f.dataset("x").read_rows_into<double>(3, 900, out.data());
  for (std::size_t i = 0; i < out.size(); ++i)
    ASSERT_EQ(out[i], static_cast<double>(x[3 * 1024 + i])) << i;
}
