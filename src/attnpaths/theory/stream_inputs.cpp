#include "attnpaths/theory/stream_inputs.hpp"

#include <algorithm>
#include <future>

#include "attnpaths/core/buffer.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/io/run_record.hpp"

namespace attnpaths {

namespace {

// Blocks between the ranks' agreements on invalid data. A rank validates its blocks alone (no
// collective call per block, which made every rank wait for the slowest at each block: ~0.4–0.8 s of
// a 2-rank run at P = 10⁵); an invalid block stops its rank's work, and at the next agreement every
// rank throws the first failing rank's error.
constexpr std::int64_t blocks_between_agreements = 64;

// The memory of the stream, reused block after block and set after set.
struct StreamWorkspace {
  PathInputWorkspace inputs;
  ExampleSet blocks[2];  // block k's examples in blocks[k % 2]: one computed while the next is read
  PathInputs x;          // the block's x̃ for the Gram sums
  std::int64_t read_ahead = 0;  // blocks read while the previous block was computed
};

// Reads block `b` of set `name` into `into` (validated on this rank alone); returns the error of invalid
// data, or "". Runs on the main thread or, reading ahead, on its own thread while the main thread only
// computes (no MPI, HDF5 or PETSc call of the main thread overlaps it: MPI_THREAD_SERIALIZED).
std::string read_block(const DatasetReader& reader, const std::string& name, Range b, ExampleSet& into,
                       StreamedChecksum& checksum) {
  try {
    reader.read_rows_into(name, b.begin, b.end, into, /*each_rank_alone=*/true, &checksum);
    return {};
  } catch (const InputError& e) {
    return e.what();
  }
}

// The path inputs of set `name`, block by block: `sums` (if any) accumulates every block, the x̃ rows
// are kept only with `keep_rows` (the targets always); the two exclude each other. The rows are
// computed in place into the result.
PathInputs stream_set(const DatasetReader& reader, const std::string& name, std::int64_t block_examples,
                      bool keep_rows, GramSums* sums, std::int64_t& blocks, StageTimers& timers,
                      StreamWorkspace& work, StreamedChecksum& checksum) {
  const Dataset& h = reader.header();
  const ExampleSet& whole = reader.set(name);
  ATTN_REQUIRE(!(keep_rows && sums), LibraryError, "internal: streamed set '{}' both kept and summed", name);
  PathInputs all;
  all.set_name = name;
  all.count = whole.count;
  all.local = whole.local;
  all.paths = h.attention.paths();
  all.dim = h.token_dim;
  const std::size_t per_row = sz(all.paths) * sz(all.dim);
  if (keep_rows) all.xt.resize(sz(whole.local.size()) * per_row);
  all.y.reserve(sz(whole.local.size()));
  PathInputs& x = work.x;
  std::string invalid;  // this rank's first invalid block's error
  const std::vector<Range> mine = reader.blocks(name, block_examples);
  const bool read_ahead = mpi_allows_helper_thread();
  std::future<std::string> ahead;  // the read of block k, started while block k − 1 was computed
  for (std::size_t k = 0; k < mine.size(); ++k) {
    // (no read is in flight at an agreement, a collective call: none is started for its block)
    if (k > 0 && k % blocks_between_agreements == 0) throw_first_error(invalid, reader.comm());
    if (!invalid.empty()) continue;
    const Range& b = mine[k];
    ExampleSet& block = work.blocks[k % 2];
    ++blocks;
    {
      auto t = timers.stage("load");  // the wait for a block read ahead, else its read
      invalid = ahead.valid() ? ahead.get() : read_block(reader, name, b, block, checksum);
    }
    if (!invalid.empty()) continue;
    if (const std::size_t n = k + 1; read_ahead && n < mine.size() && n % blocks_between_agreements != 0) {
      ahead = std::async(std::launch::async, read_block, std::cref(reader), std::cref(name), mine[n],
                         std::ref(work.blocks[n % 2]), std::ref(checksum));
      ++work.read_ahead;
    }
    auto t = timers.stage("path inputs");
    double* rows = nullptr;
    if (keep_rows) {
      rows = all.xt.data() + sz(b.begin - whole.local.begin) * per_row;
    } else {
      x.set_name = name;
      x.count = whole.count;
      x.local = block.local;
      x.paths = all.paths;
      x.dim = all.dim;
      x.y = block.y;
      resize_buffer(x.xt, sz(b.size()) * per_row);
      rows = x.xt.data();
    }
    compute_path_inputs(block, h.attention, h.tokens, h.token_dim, work.inputs, rows);
    if (sums) sums->add(x);
    all.y.insert(all.y.end(), block.y.begin(), block.y.end());
  }
  throw_first_error(invalid, reader.comm());
  return all;
}

}  // namespace

StreamedInputs stream_inputs(const std::string& path, KernelForm form, double block_mb, int keep_per_class,
                             const Comm& comm, StageTimers& timers) {
  std::optional<DatasetReader> reader;
  std::optional<StreamedChecksum> checksum;  // hashed from the streamed blocks: the file is read once
  {
    auto t = timers.stage("load");
    reader.emplace(path, comm, /*checksum=*/false);
    checksum.emplace(path, comm);
  }
  StreamedInputs s;
  s.data = reader->header();
  const int H = s.data.attention.paths(), N0 = s.data.token_dim;
  s.form = resolve_kernel_form(form, s.data.train.count, H, std::int64_t{H} * N0);
  // A whole number of path-input batches per block (no padded batches inside the stream).
  const std::int64_t batch = path_input_batch(s.data.tokens);
  s.block_examples = std::max<std::int64_t>(1, block_examples_for(block_mb, s.data.tokens, N0) / batch) * batch;
  const bool dual = s.form == KernelForm::dual;
  if (dual) s.sums.emplace(H, N0, keep_per_class);
  StreamWorkspace work;
  s.train = stream_set(*reader, "train", s.block_examples, !dual, dual ? &*s.sums : nullptr, s.blocks, timers, work,
                       *checksum);
  if (dual) s.sums->reduce(comm);
  for (const ExampleSet* set : s.data.evaluation_sets())
    s.evaluation.push_back(
        stream_set(*reader, set->name, s.block_examples, true, nullptr, s.blocks, timers, work, *checksum));
  s.read_ahead = work.read_ahead;
  auto t = timers.stage("load");
  s.data.checksum = checksum->finish();
  s.checksum_reads = checksum->chunks_read();
  return s;
}

std::unique_ptr<RenormalizedKernel> make_streamed_kernel(const StreamedInputs& in, double sigma0_sq, const Comm& comm) {
  if (in.form != KernelForm::dual) return make_renormalized_kernel(in.form, in.train, sigma0_sq, comm);
  return std::make_unique<DualKernel>(in.train, *in.sums, sigma0_sq, comm);
}

}  // namespace attnpaths
