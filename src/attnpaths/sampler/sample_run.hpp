// `attnpaths sample`: posterior sampling of the network weights with distributed NUTS (docs/model.md §4),
// written as docs/files.md §3 (docs/sampling.md). One object per run; run() reads as the pipeline:
//   split world → load dataset → path inputs → posterior → chains (resume?) → rounds of
//   {iterations, write draws, checkpoint} → summaries + diagnostics → commit.
//
// Parallel decomposition: world = C chain groups × K example shards (rank r: chain r / K, shard r % K).
// Each group runs one chain; within a group the log-likelihood and its gradient are summed over the
// shards with a reduction whose result is bitwise independent of K (sampler/posterior.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/config.hpp"
#include "attnpaths/core/signals.hpp"  // stop_requested(), request_stop()
#include "attnpaths/model/network.hpp"
#include "attnpaths/results/samples_file.hpp"
#include "attnpaths/sampler/nuts.hpp"

namespace attnpaths {

struct SampleOptions {
  std::string data;                 // dataset file (docs/files.md §1)
  std::string output;               // samples file (docs/files.md §3)
  int width = 0;                    // N (all widths unless `widths` is given)
  std::vector<int> widths;          // w0 … wL (optional)
  std::vector<double> variances;    // σ0², σ1² … σL², σa² (optional; default all 1)
  double temperature = 0;           // Temp (likelihood variance)
  int chains = 0;                   // C (0: one chain per K ranks, C = ranks / K)
  int shards = 1;                   // K
  std::int64_t draws = 1000;        // S per chain
  std::int64_t warmup = 1000;       // W per chain
  std::uint64_t seed = 1;           // chain c uses the stream (seed, sampler, c)
  double target_accept = 0.8;
  int max_depth = 10;
  std::int64_t checkpoint_every = 100;  // iterations between checkpoints (M)
  std::int64_t thin = 1;            // keep f_test of every thin-th draw
  std::string target = "auto";      // "auto" | "joint" | "v0-marginal" | "path-weights" (sampler/posterior.hpp);
                                    // auto: the cheapest by the cost model of sampler/target_choice.hpp
  std::string metric = "auto";      // "auto" | "diag" | "dense" (auto: diag, docs/sampling.md)
  int reduction_blocks = 16;        // canonical example blocks of the shard reduction (power of 2 ≥ K)
  double progress_seconds = 10;     // rank-0 progress line interval
  bool resume = false;
  bool overwrite = false;           // replace an existing complete output
  bool quiet = false;
  std::int64_t interrupt_after = -1;  // testing: behave as if SIGTERM arrived after this many iterations
  std::int64_t fail_after = -1;       // testing: the last chain fails (NumericalError) at this iteration

  // Throws InputError naming the offending option.
  void validate() const;
  Config to_config() const;
  // The options that determine the draws (a resumed run must match them; not the output, K, M).
  std::string fingerprint(const std::string& data_checksum, const Architecture& arch) const;
  // The network of a depth-L dataset with N0 = input_dim: --widths (or L + 1 times --width), --variances
  // (or L + 2 ones); validated.
  Architecture architecture(int input_dim, const std::vector<int>& heads) const;
};

class SampleRun {
 public:
  SampleRun(SampleOptions options, const Comm& world, std::vector<std::string> command_line);
  ~SampleRun();
  // Returns 0 on success; throws Interrupted (exit 75) after checkpointing on SIGTERM / SIGUSR1, and
  // RankFailure (the chain's own exit code; main aborts every rank) when one chain fails.
  int run();

 private:
  struct State;  // what the stages build: groups, dataset, posterior, chain, output, buffers
  // The stages, in the order run() calls them.
  void split_world();
  void load();
  void compute_inputs();
  void build_posterior();
  void open_output(bool partial_exists);
  void start_chain();
  void sample();  // rounds of sample_round → write_round → checkpoint
  void summarise();
  void finish();
  // Helpers of the stages.
  void write_data_description() const;
  bool sample_round();
  void iterate();
  void record_draw(const NutsStats& stats);
  void write_round();
  void write_headline(const SampledSummaries& summaries);

  SampleOptions options_;
  const Comm& world_;
  std::vector<std::string> command_line_;
  std::unique_ptr<State> s_;
};

}  // namespace attnpaths
