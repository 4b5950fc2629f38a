// The real command `attnpaths data markov`, run as a separate process (at 1, 2 and 4 ranks through
// mpirun) from this 1-rank test: output files independent of the rank count and equal to the
// in-process generation, the rank-0 log, clean failures with exit code 3 for bad options and
// unwritable outputs (and no file left behind).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/data/markov.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

// Runs `attnpaths <args>` on `ranks` ranks (1 = without mpirun); returns the exit code.
int run_attnpaths(int ranks, const std::string& args, std::string* output) {
  std::string cmd = test::child_env();
  if (ranks > 1) cmd += "mpirun -n " + std::to_string(ranks) + " ";
  cmd += test::attnpaths_binary() + " " + args;
  const int rc = test::run_command(cmd, output);
  std::printf("$ attnpaths %s  [%d rank(s)] -> exit %d\n", args.c_str(), ranks, rc);
  return rc;
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

const char* small_options = "-P 6 -Q 4 --validation-examples 2 -T 7 --feature-dim 10";

MarkovOptions small_markov() {
  MarkovOptions o;
  o.train_examples = 6;
  o.test_examples = 4;
  o.validation_examples = 2;
  o.tokens = 7;
  o.feature_dim = 10;
  return o;
}

}  // namespace

TEST(DataCommand, FilesDoNotDependOnTheRankCount) {
  const std::string dir = test::scratch_dir("data_command");
  const Dataset expected = generate_markov(small_markov(), test::world());
  for (int ranks : {1, 2, 4}) {
    const std::string path = dir + "/np" + std::to_string(ranks) + ".h5";
    std::string out;
    ASSERT_EQ(run_attnpaths(ranks, std::string("data markov ") + small_options + " -o " + path, &out), 0) << out;
    EXPECT_TRUE(contains(out, "attnpaths data markov: resolved options")) << out;
    EXPECT_TRUE(contains(out, "stay_plus")) << out;
    EXPECT_TRUE(contains(out, "generate: done in")) << out;
    EXPECT_TRUE(contains(out, "write: done in")) << out;
    EXPECT_TRUE(contains(out, "wrote dataset file " + path)) << out;
    EXPECT_EQ(out.find("wrote dataset file"), out.rfind("wrote dataset file")) << "only rank 0 prints:\n" << out;
    EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
    const Dataset d = read_dataset(path, test::world());
    EXPECT_EQ(d.train.x, expected.train.x) << ranks << " ranks";  // bitwise
    EXPECT_EQ(d.train.y, expected.train.y);
    EXPECT_EQ(d.test.x, expected.test.x);
    ASSERT_TRUE(d.validation.has_value());
    EXPECT_EQ(d.validation->x, expected.validation->x);
    EXPECT_EQ(d.attention.layers[0].w, expected.attention.layers[0].w);
    EXPECT_EQ(d.attention.layers[1].w, expected.attention.layers[1].w);
    EXPECT_EQ(d.attention.path_labels, (std::vector<std::string>{"g", "a1", "d", "a2"}));
    const h5::File f(path, test::world(), h5::File::Mode::read);
    EXPECT_EQ(f.group("config").attr_int("train_examples"), 6);
    EXPECT_EQ(f.group("config").attr_string("output"), path);
    EXPECT_EQ(f.group("provenance").attr_int("mpi_ranks"), ranks);
    const auto stages = f.group("provenance/timing").attr_strings("stage");
    EXPECT_NE(std::find(stages.begin(), stages.end(), "generate"), stages.end());
  }
}

TEST(DataCommand, HelpShowsEveryOptionWithItsDefault) {
  std::string out;
  ASSERT_EQ(run_attnpaths(1, "data markov --help", &out), 0) << out;
  for (const char* s : {"--train-examples INT=100", "--test-examples INT=1000", "--validation-examples INT=0",
                        "--tokens INT=30", "--feature-dim INT=200", "--stay-plus FLOAT=0.7", "--stay-minus FLOAT=0.3",
                        "--noise-parallel FLOAT=1", "--noise-perpendicular FLOAT=1", "--noise-out-of-plane FLOAT=1",
                        "--beta FLOAT=10", "--perturbation FLOAT=1", "--seed INT=1", "--head-seeds-layer1 INT=[127,147]",
                        "--head-seeds-layer2 INT=[217,247]", "--heads TEXT=4paths", "-o,--output"})
    EXPECT_TRUE(contains(out, s)) << "missing '" << s << "' in\n" << out;
}

TEST(DataCommand, BadOptionsFailWithInputError) {
  const std::string dir = test::scratch_dir("data_command_bad");
  struct Bad {
    std::string args, needle;
    int ranks;
  };
  const std::vector<Bad> bad{
      {"--stay-plus 1.5", "--stay-plus = 1.5 must be a probability in [0, 1]", 1},
      {"-P 7", "--train-examples = 7 must be an even number", 1},
      {"-Q 0", "--test-examples = 0 must be an even number", 2},
      {"--noise-out-of-plane -1", "--noise-out-of-plane = -1 must be finite and >= 0", 1},
      {"--heads 3paths", "unknown head set --heads '3paths'", 2},
      {"--feature-dim 9", "--feature-dim = 9 must be an even number", 1},
      {"--head-seeds-layer1 5", "--head-seeds-layer1 needs 2 seeds", 1},
  };
  for (const auto& b : bad) {
    const std::string path = dir + "/bad.h5";
    std::string out;
    EXPECT_EQ(run_attnpaths(b.ranks, "data markov " + b.args + " -o " + path, &out), 3) << out;
    EXPECT_TRUE(contains(out, b.needle)) << "expected '" << b.needle << "' in\n" << out;
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
  }
  std::string out;
  EXPECT_EQ(run_attnpaths(1, "data markov --no-such-option -o " + dir + "/x.h5", &out), 2) << out;
  EXPECT_EQ(run_attnpaths(1, "data markov", &out), 2) << "missing -o must be a usage error\n" << out;
}

TEST(DataCommand, UnwritableOutputFailsCleanly) {
  for (int ranks : {1, 2}) {
    std::string out;
    EXPECT_EQ(run_attnpaths(ranks, "data markov -P 2 -Q 2 -o /proc/forbidden/x.h5", &out), 3) << out;
    EXPECT_TRUE(contains(out, "/proc/forbidden/x.h5")) << out;
    EXPECT_TRUE(contains(out, "not writable")) << out;
    EXPECT_FALSE(contains(out, "generate: done")) << "must fail before generating\n" << out;
    EXPECT_FALSE(std::filesystem::exists("/proc/forbidden/x.h5"));
    EXPECT_FALSE(std::filesystem::exists("/proc/forbidden/x.h5.partial"));
  }
  // An existing directory as output.
  const std::string dir = test::scratch_dir("data_command_dir");
  std::filesystem::create_directories(dir + "/out.h5");
  std::string out;
  EXPECT_EQ(run_attnpaths(1, "data markov -P 2 -Q 2 -o " + dir + "/out.h5", &out), 3) << out;
  EXPECT_TRUE(contains(out, "is a directory")) << out;
}
