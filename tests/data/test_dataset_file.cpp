// Dataset files (docs/files.md §1): write → read round trip at 1/2/4 ranks (and re-read on one rank), and
// every validation error of read_dataset on deliberately broken files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>

#include "attnpaths/core/index.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/data/markov.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/io/run_record.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

using attnpaths::sz;

std::vector<double> normals(std::size_t n, std::uint64_t index) {
  RandomStream rng(5, rng_domain::test, index);
  std::vector<double> v(n);
  for (auto& x : v) x = rng.normal();
  return v;
}

MarkovOptions tiny() {
  MarkovOptions o;
  o.train_examples = 6;
  o.test_examples = 4;
  o.validation_examples = 2;
  o.tokens = 5;
  o.feature_dim = 8;
  return o;
}

// A Markov dataset plus an OOD set, with a custom 2-layer attention: layer 1 "w" (2 heads),
// layer 2 "qk" (2 heads, G = 3), mean readout, hardmax, custom labels.
Dataset sample_dataset(const Comm& comm, bool labels = true) {
  Dataset d = generate_markov(tiny(), comm);
  ExampleSet ood = d.test;
  ood.name = "ood/mnist";
  for (auto& v : ood.x) v *= 2.0;
  d.ood.push_back(ood);
  const int N0 = d.token_dim, G = 3;
  AttentionSpec a;
  a.readout = Readout::mean;
  a.nonlinearity = Nonlinearity::hardmax;
  AttentionLayer l1, l2;
  l1.heads = 2;
  l1.w = normals(sz(2 * N0 * N0), 1);
  l2.style = AttentionStyle::qk;
  l2.heads = 2;
  l2.qk_dim = G;
  l2.q = normals(sz(2 * G * N0), 2);
  l2.k = normals(sz(2 * G * N0), 3);
  a.layers = {l1, l2};
  if (labels) a.path_labels = {"p", "q", "r", "s"};
  d.attention = a;
  return d;
}

void write(const std::string& path, const Dataset& d, const Comm& comm) {
  const Provenance prov = Provenance::collect(comm, {"test_dataset_file"});
  StageTimers timers;
  write_dataset(path, d, comm, tiny().to_config(), prov, timers);
}

void expect_same_rows(const ExampleSet& a, const ExampleSet& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.local.begin, b.local.begin);
  EXPECT_EQ(a.local.end, b.local.end);
  EXPECT_EQ(a.x, b.x) << a.name;  // bitwise
  EXPECT_EQ(a.y, b.y) << a.name;
}

void expect_same_attention(const AttentionSpec& a, const AttentionSpec& b) {
  EXPECT_EQ(a.readout, b.readout);
  EXPECT_EQ(a.nonlinearity, b.nonlinearity);
  EXPECT_EQ(a.path_labels, b.path_labels);
  ASSERT_EQ(a.depth(), b.depth());
  for (std::size_t l = 0; l < a.layers.size(); ++l) {
    EXPECT_EQ(a.layers[l].style, b.layers[l].style);
    EXPECT_EQ(a.layers[l].heads, b.layers[l].heads);
    EXPECT_EQ(a.layers[l].qk_dim, b.layers[l].qk_dim);
    EXPECT_EQ(a.layers[l].w, b.layers[l].w);
    EXPECT_EQ(a.layers[l].q, b.layers[l].q);
    EXPECT_EQ(a.layers[l].k, b.layers[l].k);
  }
}

// The message of the InputError that read_dataset throws (fails the test if none is thrown).
std::string read_error(const std::string& path) {
  try {
    read_dataset(path, test::world());
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "read_dataset('" << path << "') did not throw an InputError";
  return "";
}

// Copies a valid file and lets rank 0 break it (on its own 1-rank communicator).
class BrokenFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("dataset_file_broken");
    valid_ = dir_ + "/valid.h5";
    write(valid_, sample_dataset(test::world()), test::world());
  }
  std::string broken(const std::string& name, const std::function<void(const h5::File&)>& edit) {
    const std::string path = dir_ + "/" + name + ".h5";
    Comm self = test::world().split(test::world().rank(), 0);
    if (test::world().is_root()) {
      std::filesystem::copy_file(valid_, path, std::filesystem::copy_options::overwrite_existing);
      h5::File f(path, self, h5::File::Mode::read_write);
      edit(f);
    }
    test::world().barrier();
    return path;
  }
  static void remove(const h5::File& f, const std::string& link) {
    ASSERT_GE(H5Ldelete(f.get(), link.c_str(), H5P_DEFAULT), 0) << link;
  }
  std::string dir_, valid_;
};

const double nan_value = std::numeric_limits<double>::quiet_NaN();

}  // namespace

TEST(DatasetFile, RoundTrip) {
  const Comm& world = test::world();
  const std::string dir = test::scratch_dir("dataset_file_roundtrip");
  const Dataset d = sample_dataset(world);
  write(dir + "/d.h5", d, world);
  EXPECT_TRUE(std::filesystem::exists(dir + "/d.h5"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/d.h5.partial"));

  const Dataset r = read_dataset(dir + "/d.h5", world);
  EXPECT_EQ(r.path, dir + "/d.h5");
  EXPECT_FALSE(r.checksum.empty());
  EXPECT_EQ(r.checksum, content_checksum(dir + "/d.h5", world));  // io/run_record.hpp's checksum of the content
  EXPECT_EQ(r.task, "markov");
  EXPECT_EQ(r.tokens, d.tokens);
  EXPECT_EQ(r.token_dim, d.token_dim);
  expect_same_rows(r.train, d.train);
  expect_same_rows(r.test, d.test);
  ASSERT_TRUE(r.validation.has_value());
  expect_same_rows(*r.validation, *d.validation);
  ASSERT_EQ(r.ood.size(), 1u);
  expect_same_rows(r.ood[0], d.ood[0]);
  expect_same_attention(r.attention, d.attention);

  // Re-read by every rank alone: its block of the full file is what the distributed read gave.
  Comm self = world.split(world.rank(), 0);
  const Dataset whole = read_dataset(dir + "/d.h5", self);
  const std::int64_t per = d.tokens * d.token_dim;
  ASSERT_EQ(whole.train.local.size(), d.train.count);
  for (std::size_t i = 0; i < r.train.x.size(); ++i) ASSERT_EQ(r.train.x[i], whole.train.x[sz(r.train.local.begin * per) + i]);
  EXPECT_EQ(whole.checksum, r.checksum);

  // /config, /provenance and the root attributes.
  const h5::File f(dir + "/d.h5", world, h5::File::Mode::read);
  EXPECT_EQ(f.attr_string("format"), "attnpaths-dataset");
  EXPECT_EQ(f.attr_int("version"), 1);
  EXPECT_EQ(f.group("config").attr_string("heads"), "4paths");
  EXPECT_EQ(f.group("config").attr_ints("head_seeds_layer1"), (std::vector<std::int64_t>{127, 147}));
  EXPECT_EQ(f.group("provenance").attr_int("mpi_ranks"), world.size());
}

TEST(DatasetFile, DefaultPathLabelsWhenAbsent) {
  const std::string dir = test::scratch_dir("dataset_file_labels");
  write(dir + "/d.h5", sample_dataset(test::world(), false), test::world());
  const Dataset r = read_dataset(dir + "/d.h5", test::world());
  EXPECT_EQ(r.attention.path_labels, (std::vector<std::string>{"0.0", "0.1", "1.0", "1.1"}));
}

TEST(DatasetFile, MarkovDatasetRoundTrip) {
  const std::string dir = test::scratch_dir("dataset_file_markov");
  MarkovOptions o = tiny();
  o.heads = "2paths";
  const Dataset d = generate_markov(o, test::world());
  write(dir + "/m.h5", d, test::world());
  const Dataset r = read_dataset(dir + "/m.h5", test::world());
  expect_same_rows(r.train, d.train);
  expect_same_rows(r.test, d.test);
  expect_same_attention(r.attention, d.attention);
  EXPECT_EQ(r.attention.path_labels, (std::vector<std::string>{"g", "d"}));
}

TEST_F(BrokenFiles, MissingFileAndNotHdf5) {
  std::string msg = read_error(dir_ + "/nowhere.h5");
  EXPECT_NE(msg.find("nowhere.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  const std::string text = dir_ + "/text.h5";
  if (test::world().is_root()) std::ofstream(text) << "not an HDF5 file\n";
  test::world().barrier();
  msg = read_error(text);
  EXPECT_NE(msg.find("text.h5"), std::string::npos) << msg;
}

TEST_F(BrokenFiles, MissingGroupsAndDatasets) {
  std::string msg = read_error(broken("no_test", [](const h5::File& f) { remove(f, "/test"); }));
  EXPECT_NE(msg.find("no_test.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing group '/test'"), std::string::npos) << msg;
  msg = read_error(broken("no_val_x", [](const h5::File& f) { remove(f, "/validation/x"); }));
  EXPECT_NE(msg.find("/validation/x"), std::string::npos) << msg;
  msg = read_error(broken("no_attention", [](const h5::File& f) { remove(f, "/attention"); }));
  EXPECT_NE(msg.find("missing group '/attention'"), std::string::npos) << msg;
  msg = read_error(broken("no_layer2", [](const h5::File& f) { remove(f, "/attention/layer_2"); }));
  EXPECT_NE(msg.find("layer_2"), std::string::npos) << msg;
  msg = read_error(broken("no_readout", [](const h5::File& f) {
    ASSERT_GE(H5Adelete(f.group("attention").get(), "readout"), 0);
  }));
  EXPECT_NE(msg.find("readout"), std::string::npos) << msg;
}

TEST_F(BrokenFiles, WrongShapes) {
  std::string msg = read_error(broken("train_y", [](const h5::File& f) {
    remove(f, "/train/y");
    f.write<double>("train/y", {7}, std::vector<double>(7, 1.0));
  }));
  EXPECT_NE(msg.find("'/train/y' has shape [7], expected [6]"), std::string::npos) << msg;
  msg = read_error(broken("test_x", [](const h5::File& f) {
    remove(f, "/test/x");
    f.write<double>("test/x", {4, 6, 15}, std::vector<double>(4 * 6 * 15, 0.0));
  }));
  EXPECT_NE(msg.find("'/test/x' has shape [4, 6, 15], expected [n, 6, 14]"), std::string::npos) << msg;
  msg = read_error(broken("x_rank", [](const h5::File& f) {
    remove(f, "/train/x");
    f.write<double>("train/x", {6, 84}, std::vector<double>(6 * 84, 0.0));
  }));
  EXPECT_NE(msg.find("expected [n, T, N0]"), std::string::npos) << msg;
  msg = read_error(broken("w_shape", [](const h5::File& f) {
    remove(f, "/attention/layer_1/w");
    f.write<double>("attention/layer_1/w", {2, 14, 13}, std::vector<double>(2 * 14 * 13, 0.0));
  }));
  EXPECT_NE(msg.find("'/attention/layer_1/w' has shape [2, 14, 13], expected [H, N0, N0]"), std::string::npos) << msg;
  msg = read_error(broken("k_shape", [](const h5::File& f) {
    remove(f, "/attention/layer_2/k");
    f.write<double>("attention/layer_2/k", {2, 4, 14}, std::vector<double>(2 * 4 * 14, 0.0));
  }));
  EXPECT_NE(msg.find("'/attention/layer_2/k' has shape [2, 4, 14], expected [H, G, N0]"), std::string::npos) << msg;
  msg = read_error(broken("labels", [](const h5::File& f) {
    f.group("attention").set_attr("path_labels", std::vector<std::string>{"a", "b", "c"});
  }));
  EXPECT_NE(msg.find("path_labels has 3 entries, expected H_tot = 4"), std::string::npos) << msg;
  msg = read_error(broken("layers", [](const h5::File& f) { f.group("attention").set_attr("layers", 3); }));
  EXPECT_NE(msg.find("layers = 3 expects the groups layer_1, layer_2, layer_3"), std::string::npos) << msg;
}

TEST_F(BrokenFiles, UnknownNamesAndFormat) {
  std::string msg = read_error(broken("style", [](const h5::File& f) { f.group("attention/layer_2").set_attr("style", "xyz"); }));
  EXPECT_NE(msg.find("style.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/attention/layer_2@style"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown attention style 'xyz'"), std::string::npos) << msg;
  msg = read_error(broken("readout", [](const h5::File& f) { f.group("attention").set_attr("readout", "middle"); }));
  EXPECT_NE(msg.find("unknown readout 'middle'"), std::string::npos) << msg;
  msg = read_error(broken("nonlin", [](const h5::File& f) { f.group("attention").set_attr("nonlinearity", "relu"); }));
  EXPECT_NE(msg.find("unknown nonlinearity 'relu'"), std::string::npos) << msg;
  msg = read_error(broken("format", [](const h5::File& f) { f.set_attr("format", "something-else"); }));
  EXPECT_NE(msg.find("format = 'something-else', expected 'attnpaths-dataset'"), std::string::npos) << msg;
  msg = read_error(broken("version", [](const h5::File& f) { f.set_attr("version", 2); }));
  EXPECT_NE(msg.find("version = 2, expected 1"), std::string::npos) << msg;
}

// NaN/Inf anywhere: every rank throws the same message, naming the first bad index, even the
// ranks that do not hold it (example 4 of 6 is on rank 2 of 4, rank 1 of 2).
TEST_F(BrokenFiles, NonFiniteValues) {
  std::string msg = read_error(broken("nan_x", [](const h5::File& f) {
    f.dataset("train/x").write_slab<double>({4, 2, 1}, {1, 1, 1}, &nan_value);
  }));
  EXPECT_NE(msg.find("'/train/x' has a non-finite value (NaN or Inf) at example 4, token 2, feature 1"), std::string::npos)
      << msg;
  msg = read_error(broken("nan_x2", [](const h5::File& f) {
    f.dataset("train/x").write_slab<double>({5, 0, 0}, {1, 1, 1}, &nan_value);
    f.dataset("train/x").write_slab<double>({1, 3, 7}, {1, 1, 1}, &nan_value);
  }));
  EXPECT_NE(msg.find("at example 1, token 3, feature 7"), std::string::npos) << msg;  // the first one
  const double inf = std::numeric_limits<double>::infinity();
  msg = read_error(broken("inf_y", [&](const h5::File& f) { f.dataset("test/y").write_slab<double>({3}, {1}, &inf); }));
  EXPECT_NE(msg.find("'/test/y' has a non-finite value (NaN or Inf) at example 3"), std::string::npos) << msg;
  msg = read_error(broken("nan_ood", [](const h5::File& f) {
    f.dataset("ood/mnist/x").write_slab<double>({0, 0, 0}, {1, 1, 1}, &nan_value);
  }));
  EXPECT_NE(msg.find("'/ood/mnist/x'"), std::string::npos) << msg;
  msg = read_error(broken("nan_w", [](const h5::File& f) {
    f.dataset("attention/layer_1/w").write_slab<double>({1, 2, 3}, {1, 1, 1}, &nan_value);
  }));
  EXPECT_NE(msg.find("'/attention/layer_1/w' has a non-finite value (NaN or Inf) at head 1, row 2, column 3"),
            std::string::npos)
      << msg;
  msg = read_error(broken("inf_q", [&](const h5::File& f) {
    f.dataset("attention/layer_2/q").write_slab<double>({0, 1, 0}, {1, 1, 1}, &inf);
  }));
  EXPECT_NE(msg.find("'/attention/layer_2/q'"), std::string::npos) << msg;
}

// Issue 8, item 9: classification labels must be ±1 (labels 0/1 are an InputError naming them, on every
// rank); real-valued or other targets only when the dataset declares targets = "regression".
TEST_F(BrokenFiles, LabelsMustBePlusMinusOne) {
  auto zero_one = [](const h5::File& f) {
    auto d = f.dataset("train/y");
    auto y = d.read_all<double>();
    for (auto& v : y) v = v > 0 ? 1.0 : 0.0;
    d.write_slab<double>({0}, {y.size()}, y.data());
  };
  std::string msg = read_error(broken("zero_one", zero_one));
  EXPECT_NE(msg.find("/train/y holds the labels {0, 1}"), std::string::npos) << msg;
  EXPECT_NE(msg.find("targets = \"regression\""), std::string::npos) << msg;
  const std::string reg = broken("zero_one_regression", [&](const h5::File& f) {
    zero_one(f);
    f.set_attr("targets", "regression");
  });
  EXPECT_TRUE(read_dataset(reg, test::world()).regression);
  msg = read_error(broken("bad_targets", [](const h5::File& f) { f.set_attr("targets", "labels"); }));
  EXPECT_NE(msg.find("targets = 'labels'"), std::string::npos) << msg;
  const Dataset valid = read_dataset(valid_, test::world());
  EXPECT_FALSE(valid.regression);
}
