// Streaming (docs/theory.md "Memory and blocks"; issue: P = 10⁶ on one node): a dataset written and read
// in blocks gives the same file and the same theory as one written and read whole.
//  - data: the file's content does not depend on the block size, the rank count, or whether it was
//    generated in memory (write_dataset) or streamed (write_dataset_streamed), each block written while
//    the next is generated or in turn; float32 storage reads back as the float32-rounded values; reads
//    split into many MPI-IO calls give the same rows.
//  - theory: P = 2·10⁴ with a block size that forces ≥ 10 blocks per rank, each read while the one
//    before is computed: the streamed Gram sums and the kernel built from them agree with the
//    in-memory dual kernel to round-off, and the whole `theory` run (N = 10, α = 2000) gives the same
//    order parameters and predictions for two block sizes.
//  - the path-pair form (P ≤ r, kept x̃ rows) gives the primal form's whole run to round-off.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/data/markov.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/io/run_record.hpp"
#include "attnpaths/kernels/dual.hpp"
#include "attnpaths/theory/stream_inputs.hpp"
#include "attnpaths/theory/theory_run.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

MarkovOptions small_task(std::int64_t P) {
  MarkovOptions o;
  o.train_examples = P;
  o.test_examples = 200;
  o.validation_examples = 40;
  o.tokens = 6;
  o.feature_dim = 10;  // T = 7, N0 = 17, r = 68: the dual form
  return o;
}

void write_streamed(const std::string& path, const MarkovOptions& o, std::int64_t block, bool float32,
                    const Comm& comm, std::optional<bool> write_behind = std::nullopt) {
  Provenance prov = Provenance::collect(comm, {"test_streaming"});
  StageTimers timers;
  const RowSource fill = [&](const ExampleSet& set, const Range& rows, double* x, double* y) {
    markov_rows(o, set, rows, x, y);
  };
  write_dataset_streamed(path, markov_header(o, comm), fill, StreamedWrite{block, float32, write_behind}, comm,
                         o.to_config(), prov, timers);
}

double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double scale = 0, diff = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    scale = std::max(scale, std::abs(a[i]));
    diff = std::max(diff, std::abs(a[i] - b[i]));
  }
  return diff / std::max(scale, 1e-300);
}

TEST(Streaming, DataFileIndependentOfBlocksRanksAndMemory) {
  const Comm& world = test::world();
  const std::string dir = test::scratch_dir("streaming_data");
  MarkovOptions o = small_task(60);
  o.test_examples = 14;
  // Blocks of 7 written each while the next is generated (forced: whatever the cores), and in turn.
  write_streamed(dir + "/b7.h5", o, 7, false, world, true);
  write_streamed(dir + "/b7_in_turn.h5", o, 7, false, world, false);
  write_streamed(dir + "/b1000.h5", o, 1000, false, world);
  {
    Provenance prov = Provenance::collect(world, {"test_streaming"});
    StageTimers timers;
    write_dataset(dir + "/memory.h5", generate_markov(o, world), world, o.to_config(), prov, timers);
  }
  const std::string ref = content_checksum(dir + "/memory.h5", world);
  EXPECT_EQ(content_checksum(dir + "/b7.h5", world), ref);
  EXPECT_EQ(content_checksum(dir + "/b7_in_turn.h5", world), ref);
  EXPECT_EQ(content_checksum(dir + "/b1000.h5", world), ref);
  // One rank alone writes the same file as the whole communicator.
  const Comm self = world.split(world.rank(), 0);
  if (world.is_root()) write_streamed(dir + "/one_rank.h5", o, 5, false, self);
  world.barrier();
  EXPECT_EQ(content_checksum(dir + "/one_rank.h5", world), ref);

  // Reads in many small MPI-IO calls give the same rows; float32 storage reads back rounded to float.
  write_streamed(dir + "/f32.h5", o, 9, true, world, true);
  const Dataset whole = read_dataset(dir + "/memory.h5", world);
  const std::size_t old_limit = h5::set_transfer_limit(1000);
  const Dataset split = read_dataset(dir + "/memory.h5", world);
  const Dataset f32 = read_dataset(dir + "/f32.h5", world);
  h5::set_transfer_limit(old_limit);
  EXPECT_EQ(split.train.x, whole.train.x);
  EXPECT_EQ(split.test.y, whole.test.y);
  ASSERT_EQ(f32.train.x.size(), whole.train.x.size());
  for (std::size_t i = 0; i < whole.train.x.size(); ++i)
    ASSERT_EQ(f32.train.x[i], static_cast<double>(static_cast<float>(whole.train.x[i]))) << i;
  EXPECT_EQ(f32.train.y, whole.train.y);
}

// A stream's checksum read, apart from its blocks, only the chunks of the small datasets (y, attention)
// and at most one chunk of each set's x at each of the R − 1 edges between shards (docs/files.md "Data
// checksum": chunks of ⌊2 MiB / (b·T·N0)⌋ rows, b = 8 or 4 bytes per stored value).
void expect_read_once(const std::string& path, const StreamedInputs& in, int value_bytes, const Comm& world) {
  StreamedChecksum whole(path, world);
  whole.finish();
  const Dataset& d = in.data;
  const std::int64_t rows = std::max<std::int64_t>(1, (std::int64_t{2} << 20) / (value_bytes * d.tokens * d.token_dim));
  std::int64_t x_total = (d.train.count + rows - 1) / rows, sets = 1;
  for (const ExampleSet* s : d.evaluation_sets()) x_total += (s->count + rows - 1) / rows, ++sets;
  const std::int64_t read = world.sum(static_cast<std::int64_t>(in.checksum_reads));
  const std::int64_t all = world.sum(static_cast<std::int64_t>(whole.chunks_read()));
  EXPECT_LE(read, all - x_total + sets * (world.size() - 1)) << "of " << all << " chunks, " << x_total << " of x";
}

// The same for a float32 file: its x is hashed as stored, from the floats the stream reads before
// widening them.
TEST(Streaming, Float32FileReadOnce) {
  const Comm& world = test::world();
  const std::string data = test::scratch_dir("streaming_f32") + "/f32.h5";
  write_streamed(data, small_task(6000), 4096, true, world);
  StageTimers timers;
  const StreamedInputs in = stream_inputs(data, KernelForm::automatic, 0.02, 0, world, timers);
  EXPECT_GE(in.blocks, 5);  // several blocks per set on every rank count
  EXPECT_EQ(in.data.checksum, content_checksum(data, world));
  expect_read_once(data, in, 4, world);
}

TEST(Streaming, TheoryEqualsInMemoryToRoundOff) {
  const Comm& world = test::world();
  const std::string dir = test::scratch_dir("streaming_theory");
  const MarkovOptions o = small_task(20000);
  const std::string data = dir + "/p2e4.h5";
  write_streamed(data, o, 4096, false, world);
  const Dataset d = read_dataset(data, world);  // the in-memory reference
  const std::int64_t per_rank = block_range(o.train_examples, 0, world.size()).size();
  const double block_mb = 8.0 * d.tokens * d.token_dim * static_cast<double>(per_rank / 10) / (1024.0 * 1024.0);
  StageTimers timers;
  const StreamedInputs in = stream_inputs(data, KernelForm::automatic, block_mb, 25, world, timers);
  ASSERT_EQ(in.form, KernelForm::dual);
  EXPECT_GE(in.blocks, 10 + 1 + 1);  // ≥ 10 training blocks, then test and validation
  // Every block after a set's first (< 64 per set: no agreement between) was read while the one before
  // was computed; the comparisons below check that this changed nothing.
  EXPECT_EQ(in.read_ahead, in.blocks - 3);
  // The checksum, hashed from the streamed blocks, is the whole file's, and the file was read once.
  EXPECT_EQ(in.data.checksum, d.checksum);
  expect_read_once(data, in, 8, world);

  // Path inputs of the evaluation sets: bitwise those of the whole set.
  const PathInputs test_whole = compute_path_inputs(d.test, d.attention, d.tokens, d.token_dim);
  EXPECT_EQ(in.evaluation.at(0).xt, test_whole.xt);
  EXPECT_EQ(in.evaluation.at(1).set_name, "validation");

  // The kernel from the streamed sums against the in-memory dual kernel.
  const PathInputs train = compute_path_inputs(d.train, d.attention, d.tokens, d.token_dim);
  DualKernel memory(train, 1.0, world);
  const auto streamed = make_streamed_kernel(in, 1.0, world);
  Eigen::MatrixXd U1(4, 4);
  U1 << 1.2, 0.3, -0.1, 0.2, 0.3, 0.9, 0.05, 0.0, -0.1, 0.05, 1.1, 0.1, 0.2, 0.0, 0.1, 0.8;
  memory.factor(U1, 0.01);
  streamed->factor(U1, 0.01);
  EXPECT_NEAR(streamed->log_det(), memory.log_det(), 1e-10 * std::abs(memory.log_det()));
  EXPECT_NEAR(streamed->data_fit(), memory.data_fit(), 1e-9 * std::abs(memory.data_fit()));
  const Eigen::MatrixXd g1 = memory.energy_gradient(), g2 = streamed->energy_gradient();
  EXPECT_LT((g1 - g2).cwiseAbs().maxCoeff(), 1e-9 * g1.cwiseAbs().maxCoeff());
  const PredictorMoments p1 = memory.predict(test_whole), p2 = streamed->predict(in.evaluation.at(0));
  EXPECT_LT(max_rel_diff(p1.mean, p2.mean), 1e-9);
  EXPECT_LT(max_rel_diff(p1.var, p2.var), 1e-9);
  // The kernel figures' subset comes from the kept rows.
  const std::vector<std::int64_t> subset{0, 3, 10000, 10007};
  EXPECT_LT(max_rel_diff(memory.kernel_block(U1, subset), streamed->kernel_block(U1, subset)), 1e-12);

  // The whole run: one block per rank against ≥ 10 blocks per rank, N = 10 (α = P/N = 2000).
  auto run = [&](double mb, const std::string& out) {
    TheoryOptions t;
    t.data = data;
    t.output = out;
    t.widths = {10, 1000};
    t.temperatures = {0.01};
    t.block_mb = mb;
    t.kernel_subset = 20;
    return TheoryRun(t, world, {"test_streaming"}).run();
  };
  EXPECT_EQ(run(1e6, dir + "/whole.h5"), 0);
  EXPECT_EQ(run(block_mb, dir + "/blocks.h5"), 0);
  const h5::File a(dir + "/whole.h5", world, h5::File::Mode::read), b(dir + "/blocks.h5", world, h5::File::Mode::read);
  for (const char* name : {"/theory/U1", "/theory/action", "/predictor/theory/mean", "/predictor/gp/mean",
                           "/predictor/validation/theory/var", "/kernels/renormalized", "/alignment/theory"})
    EXPECT_LT(max_rel_diff(a.dataset(name).read_all<double>(), b.dataset(name).read_all<double>()), 1e-7) << name;
  EXPECT_EQ(a.dataset("/theory/converged").read_all<std::int8_t>(), std::vector<std::int8_t>({1, 1}));
}

TEST(Streaming, PathPairFormEqualsPrimalThroughTheWholeRun) {
  // P = 60 ≤ r = 68: `auto` resolves to the path-pair form (recorded in /config form_resolved and /data
  // kernel_form), and the whole run (minimiser, predictor, alignment, kernels) equals --form primal to
  // round-off, on every rank count.
  const Comm& world = test::world();
  const std::string dir = test::scratch_dir("streaming_path_pairs");
  MarkovOptions o = small_task(60);
  o.test_examples = 150;  // more than one predictor chunk
  const std::string data = dir + "/p60.h5";
  write_streamed(data, o, 4096, false, world);
  auto run = [&](const std::string& form) {
    TheoryOptions t;
    t.data = data;
    t.output = dir + "/" + form + ".h5";
    t.widths = {3, 10, 100};
    t.temperatures = {0.01, 0.1};
    t.form = form;
    t.alignment = 10;
    t.kernel_subset = 12;
    EXPECT_EQ(TheoryRun(t, world, {"test_streaming"}).run(), 0) << form;
    return t.output;
  };
  const std::string primal = run("primal"), automatic = run("auto"), pairs = run("path-pairs");
  const h5::File a(primal, world, h5::File::Mode::read);
  for (const std::string& path : {automatic, pairs}) {
    const h5::File b(path, world, h5::File::Mode::read);
    EXPECT_EQ(b.group("config").attr_string("form_resolved"), "path-pairs") << path;
    EXPECT_EQ(b.group("data").attr_string("kernel_form"), "path-pairs") << path;
    for (const char* name : {"/theory/U1", "/theory/action", "/predictor/theory/mean", "/predictor/theory/var",
                             "/predictor/validation/theory/var", "/predictor/gp/mean", "/kernels/renormalized",
                             "/alignment/theory"})
      EXPECT_LT(max_rel_diff(a.dataset(name).read_all<double>(), b.dataset(name).read_all<double>()), 1e-9)
          << path << " " << name;
    EXPECT_EQ(b.dataset("/theory/converged").read_all<std::int8_t>(), std::vector<std::int8_t>(6, 1)) << path;
  }
  EXPECT_EQ(a.group("data").attr_string("kernel_form"), "primal");
}

}  // namespace
