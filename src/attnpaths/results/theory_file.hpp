// The theory file (docs/files.md §2): its one writer and its one reader. `attnpaths theory` writes it
// through TheoryFileWriter; `compare`, `select` and the theory's own summary read it through
// read_theory_file(). No other C++ code spells its dataset names.
//
// The results/ stage sits above io/, data/ and predict/ and below the commands' stages (theory/,
// sampler/, compare/, selection/): it owns the layout of every result file (theory, samples, compare,
// selection), not the science that fills it.
#pragma once

#include <Eigen/Dense>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/predict/predictor.hpp"

namespace attnpaths {

// The group of an evaluation set's predictor statistics: "test" → "/predictor", "validation" →
// "/predictor/validation", "ood/<name>" → "/predictor/ood/<name>". `root` is "/predictor" or a
// baseline's "/baselines/<name>".
std::string predictor_group(const std::string& set_name, const std::string& root = "/predictor");

// A GP baseline on another dataset (`theory --gp-baseline NAME=FILE`), as stored under /baselines/NAME.
struct BaselineLayout {
  std::string name, file, checksum;
  std::vector<std::string> path_labels;
  std::int64_t paths = 0;
  std::vector<std::pair<std::string, std::int64_t>> sets;  // evaluation set name, examples
};

// Everything that fixes the shape of a theory file.
struct TheoryFileLayout {
  std::vector<std::int64_t> widths;                         // empty for --gp-only
  std::vector<double> temperatures;
  int depth = 1;                                            // L
  int paths = 0;                                            // H_tot
  std::vector<std::int64_t> U_orders;                       // order of U_l, l = 2..L
  std::vector<std::pair<std::string, std::int64_t>> sets;   // evaluation set name, examples (test first)
  std::vector<BaselineLayout> baselines;
  int alignment = 0;                                        // k top eigenvectors (0: none)
  double grad_tol = 0;
};

// One grid point's minimum of the action, as stored in /theory.
struct TheoryPointRecord {
  std::vector<Eigen::MatrixXd> U;  // U_1 … U_L
  double Ua = 0, action = 0, energy = 0, entropy = 0, grad_max = 0, seconds = 0;
  std::int64_t iterations = 0, newton_steps = 0, evaluations = 0;
  bool converged = false;
};

// Writes the theory file point by point (collective: every rank calls every method alike).
class TheoryFileWriter {
 public:
  TheoryFileWriter(const h5::File& file, const Comm& comm) : file_(file), comm_(comm) {}

  // The datasets of every grid point, created up front (docs/files.md §2).
  void create(const TheoryFileLayout& layout) const;
  // The kernels of a class-sorted training subset for figures: /kernels/{subset, labels, path, gp}.
  void create_kernels(const std::vector<std::int64_t>& subset, const std::vector<double>& labels,
                      const std::vector<double>& path_kernels, int paths, const std::vector<double>& gp_kernel,
                      bool renormalized, hsize_t nT, hsize_t nW) const;
  // Predictor statistics of one set: `base` is predictor_group(...) + "/theory" etc.; lead = {t} or {t, w}.
  void statistics(const std::string& base, const h5::Dims& lead, const PredictorStatistics& st,
                  const Range& local) const;
  void gp_alignment(hsize_t t, const std::vector<double>& values) const;
  void theory_alignment(hsize_t t, hsize_t w, const std::vector<double>& values) const;
  void renormalized_kernel(hsize_t t, hsize_t w, const std::vector<double>& block) const;
  void point(hsize_t t, hsize_t w, const TheoryPointRecord& record) const;
  // Progress of a (resumed) run: /progress/gp [nT], /progress/theory [nT, nW].
  void mark_gp_done(hsize_t t) const;
  void mark_point_done(hsize_t t, hsize_t w) const;
  std::vector<std::int8_t> gp_progress() const;
  std::vector<std::int8_t> theory_progress() const;

 private:
  template <class T>
  void replicated(const std::string& path, const h5::Dims& lead, const std::vector<T>& values) const;
  void rows(const std::string& path, const h5::Dims& lead, const Range& local, const std::vector<double>& v) const;
  const h5::File& file_;
  const Comm& comm_;
};

// The results of a finished theory file that the other commands use (replicated on every rank).
struct TheoryResults {
  std::string path, data_file, data_checksum;
  std::vector<std::int64_t> widths;       // [nW] (empty for --gp-only)
  std::vector<double> temperatures;       // [nT]
  std::vector<std::string> path_labels;   // [H_tot]
  int paths = 0;                          // H_tot
  std::vector<std::string> sets;          // evaluation sets: "test", "validation", "ood/<name>"
  std::map<std::string, std::vector<double>> theory_accuracy;  // set → [nT, nW]
  std::map<std::string, std::vector<double>> gp_accuracy;      // set → [nT]
  // baseline name → set → [nT] (a baseline's sets are those of its own dataset)
  std::map<std::string, std::map<std::string, std::vector<double>>> baseline_accuracy;
  std::vector<double> diagonal_accuracy;  // test accuracy with the diagonal of U_1 only, [nT, nW]
  std::vector<double> U1;                 // [nT, nW, H, H]
  std::vector<std::int8_t> converged;     // [nT, nW]
  std::vector<std::int64_t> iterations, newton_steps;  // [nT, nW]
  std::vector<double> seconds;            // [nT, nW]

  std::size_t grid_index(std::size_t t, std::size_t w) const { return t * widths.size() + w; }
  // The index of `temperature` in the grid: equal to relative 1e-9 (the one matching rule of every
  // command and of analysis/attnreport/files.py); -1 if the grid has none.
  int temperature_index(double temperature) const;
};

// Temperatures equal to relative 1e-9: how samples, selections and merged files are matched to a grid.
bool same_temperature(double a, double b);

// Reads a finished theory file (never a `.partial`); throws InputError naming the file otherwise.
TheoryResults read_theory_file(const std::string& path, const Comm& comm);
// The same from an open theory file (e.g. the one `theory` is writing; `path` names it in messages).
TheoryResults read_theory_results(const h5::File& file, const std::string& path);
// The test-set predictor mean and variance of the theory at grid point (t, w), each [Q].
void read_theory_predictor(const std::string& path, const Comm& comm, std::size_t t, std::size_t w,
                           std::vector<double>* mean, std::vector<double>* var);

}  // namespace attnpaths
