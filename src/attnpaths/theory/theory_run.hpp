// One run of `attnpaths theory`: the whole pipeline for a grid of widths ×
// temperatures, reusing the path inputs and the kernel set-up for every grid point:
//   load dataset → attention → path inputs Ξ → for each Temp: GP → for each N: minimise the
//   action → predictor (theory, diagonal-only, GP) → alignment → write (docs/files.md §2).
// Results are written as soon as each grid point is done (the output is `<out>.partial` until the
// end), so a killed run keeps every finished point and `--resume` continues where it stopped.
#pragma once

#include <Eigen/Dense>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/config.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"
#include "attnpaths/theory/minimiser.hpp"

namespace attnpaths {

struct TheoryResults;

struct TheoryOptions {
  std::string data;                        // dataset file (docs/files.md §1)
  std::string output;                      // result file (docs/files.md §2)
  std::vector<std::int64_t> widths;        // N: every layer's width w_l = N (times width_ratios)
  std::vector<double> temperatures;        // Temp
  std::vector<double> variances;           // σ0², σ1², …, σL², σa² (empty: all 1)
  std::vector<double> width_ratios;        // w_l = ratio_l · N, l = 0..L (empty: all 1)
  std::string form = "auto";               // kernel form: auto | primal | dual | path-pairs
  bool gp_only = false;                    // only the GP (infinite-width) predictor
  MinimiserOptions minimiser;
  std::string warm_start = "none";         // start of each grid point: none (GP) | temperature | width
  int alignment = 30;                      // top eigenvectors for the kernel–label alignment (0: skip)
  int kernel_subset = 50;                  // training examples kept for kernel figures (0: skip)
  double block_mb = 8;                     // examples are read and processed in blocks of ≤ this many MiB
  std::vector<std::string> baselines;      // NAME=FILE: GP baselines on other attention (e.g. g=good.h5)
  bool resume = false;
  bool overwrite = false;                  // replace an existing complete output

  // Throws InputError naming the option (data-dependent checks happen in run()).
  void validate() const;
  Config to_config() const;
};

class TheoryRun {
 public:
  TheoryRun(TheoryOptions options, const Comm& comm, std::vector<std::string> command_line);
  ~TheoryRun();
  // Runs everything and writes the output. Returns the number of grid points whose minimisation
  // did not meet the stopping rule (written and flagged in /theory/converged).
  int run();

 private:
  struct State;  // what the stages build: dataset, path inputs, kernels, output file
  // The stages, in the order run() calls them.
  void load();
  void compute_inputs();
  void set_up_baselines();
  void set_up_kernel();
  void open_output();
  void solve_grid();  // for each Temp: solve_gp_point, then solve_grid_point for each N
  void solve_gp_point(std::size_t t);
  std::string solve_grid_point(std::size_t t, std::size_t w);
  double predict(std::size_t t, std::size_t w, const std::string& variant, const Eigen::MatrixXd& U1);
  // The alignment of point (t, w) (w = gp_column: the GP point of Temp t) is queued; the point is
  // marked done when flush_alignments() has written it, once the queue holds one point per rank.
  static constexpr std::size_t gp_column = static_cast<std::size_t>(-1);
  void queue_alignment(std::size_t t, std::size_t w, const Eigen::MatrixXd& U1);
  void flush_alignments();
  void finish();
  // Helpers of the stages.
  void write_data_description() const;
  void write_kernel_subset();
  void print_summary(const TheoryResults& results) const;

  TheoryOptions options_;
  const Comm& comm_;
  std::vector<std::string> command_line_;
  std::unique_ptr<State> s_;
  std::vector<double> gp_alignment_;  // the GP alignment does not depend on Temp: computed once
};

}  // namespace attnpaths
