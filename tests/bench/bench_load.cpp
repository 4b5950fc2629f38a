// Loading benchmark (issue: loading 64 MB should take ~0.05 s). Times, best of --repeats, the parts of
// reading a dataset file: opening and validating the header (DatasetReader without the checksum), the
// content checksum (every rank reads and hashes its share of the file), reading + validating every example set, and the whole
// read_dataset; prints MB/s of each.
//   build/bench/bench_load FILE [--repeats 5]
#include <algorithm>
#include <cstdio>
#include <string>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/runtime.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/io/run_record.hpp"
#include "guarded.hpp"

using namespace attnpaths;

namespace {
const char* const usage = "bench_load FILE [--repeats 5]";

int run(Runtime& runtime, int argc, char** argv) {
  const Comm& world = runtime.world();
  if (argc < 2 || argv[1][0] == '-') throw UsageError(std::string("bench_load: no FILE; usage: ") + usage);
  const std::string path = argv[1];
  int repeats = 5;
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) != "--repeats" || i + 1 >= argc)
      throw UsageError(std::string("bench_load: unknown option or missing value '") + argv[i] + "'; usage: " + usage);
    repeats = std::stoi(argv[++i]);
  }
  double best_checksum = 1e300, best_rows = 1e300, best_whole = 1e300, bytes = 0;
  for (int r = 0; r < repeats; ++r) {
    world.barrier();
    double t0 = wall_seconds();
    const std::string sum = content_checksum(path, world);
    best_checksum = std::min(best_checksum, wall_seconds() - t0);
    const DatasetReader reader(path, world);
    const Dataset& h = reader.header();
    world.barrier();
    t0 = wall_seconds();
    bytes = 0;
    std::vector<const ExampleSet*> sets = h.evaluation_sets();
    sets.push_back(&h.train);
    for (const ExampleSet* s : sets) {
      const ExampleSet rows = reader.read_rows(s->name, s->local.begin, s->local.end);
      bytes += 8.0 * static_cast<double>(s->count) * h.tokens * h.token_dim;
    }
    world.barrier();
    best_rows = std::min(best_rows, wall_seconds() - t0);
    t0 = wall_seconds();
    const Dataset d = read_dataset(path, world);
    world.barrier();
    best_whole = std::min(best_whole, wall_seconds() - t0);
  }
  const double mb = bytes / 1e6;
  if (world.is_root()) {
    std::printf("%s: %.1f MB of examples as float64, %d rank(s), best of %d\n", path.c_str(), mb, world.size(), repeats);
    std::printf("  content checksum (parallel)%8.4f s  %7.0f MB/s\n", best_checksum, mb / best_checksum);
    std::printf("  read + validate every set   %8.4f s  %7.0f MB/s\n", best_rows, mb / best_rows);
    std::printf("  read_dataset (all of it)    %8.4f s  %7.0f MB/s\n", best_whole, mb / best_whole);
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) { return bench::run_guarded(argc, argv, usage, run); }
