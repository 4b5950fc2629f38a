// /config and /provenance, and the XXH64 file checksum against published test vectors
// (identical to `xxhsum -H1`).
#include <gtest/gtest.h>

#include <fstream>

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

TEST(RunRecord, ConfigAndProvenance) {
  const Comm& w = test::world();
  const std::string path = test::scratch_dir("run-record") + "/r.h5";
  Config c;
  c.set("widths", std::vector<int>{10, 30});
  c.set("temperature", 0.01);
  c.set("form", "auto");
  c.set("labels", std::vector<std::string>{"g", "d"});
  StageTimers timers;
  { auto s = timers.stage("step"); }
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
}
