// The samples file (docs/files.md §3): its one writer (`attnpaths sample`) and its one reader (the
// summaries that `compare` and users need).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/io/hdf5.hpp"

namespace attnpaths {

// The summaries of a finished samples file (replicated on every rank).
struct SamplesSummary {
  std::string path, data_file, data_checksum;
  std::vector<std::int64_t> widths;       // w0 … wL
  double temperature = 0;
  std::vector<double> U1_mean, U1_mcse;   // [H × H]
  std::vector<double> predictor_mean, predictor_var;  // [Q]
  double accuracy = 0;
  double rhat_U1 = 0, rhat_predictor = 0;
  bool diagnostics_passed = false;
};

// Reads a finished samples file (never a `.partial`); InputError naming the file otherwise.
SamplesSummary read_samples_summary(const std::string& path, const Comm& comm);

// Shapes of the draws datasets of a new samples file.
struct SamplesLayout {
  std::int64_t chains = 0, paths = 0, test_examples = 0;
  std::int64_t draws = 0, thinned_draws = 0;  // per chain (chunking only: the datasets grow)
};

// The summaries of one run, computed on the root rank.
struct SampledSummaries {
  std::vector<double> U_mean, U_mcse, U_rhat, U_bulk, U_tail;       // [H × H]
  std::vector<double> p_mean, p_var, p_rhat, p_bulk, p_tail;        // [Q]
  std::vector<double> chain_ebfmi, chain_accept, chain_step, chain_seconds;  // [C]
  std::vector<std::int64_t> chain_divergences, chain_treedepth_hits, chain_gradients;  // [C]
  double accuracy = 0, bias = 0, variance = 0;
};

// The headline numbers of /diagnostics (attributes).
struct DiagnosticsHeadline {
  double rhat_max_U1 = 0, rhat_max_predictor = 0, ess_bulk_min_U1 = 0, ess_tail_min_U1 = 0;
  double ess_bulk_min_predictor = 0, ess_tail_min_predictor = 0;
  std::int64_t divergences = 0;
  std::vector<std::string> warnings;
};

class SamplesFileWriter {
 public:
  explicit SamplesFileWriter(const h5::File& file) : file_(file) {}
  // The draws datasets /samples/* (extendible along the draw axis).
  void create_draws(const SamplesLayout& layout) const;
  // The dataset `name` with at least `rows` draws per chain (extends it if needed).
  h5::Dataset draws(const std::string& name, std::int64_t rows) const;
  // /sampled/* and /diagnostics/* (collective; every rank passes the root's values' shapes).
  void summaries(const SampledSummaries& s, std::int64_t chains, std::int64_t paths, std::int64_t test_examples) const;
  void headline(const DiagnosticsHeadline& h) const;

 private:
  const h5::File& file_;
};

// The draws of every chain that /samples must hold for a checkpoint at `drawn` draws (thin: f_test
// rows): "" if present, else what is missing (a shortened file cannot be resumed).
std::string missing_draws(const h5::File& file, std::int64_t drawn, std::int64_t thin);

// Names of the per-draw NUTS statistics under /samples/stats.
extern const char* const draw_statistics[7];

}  // namespace attnpaths
