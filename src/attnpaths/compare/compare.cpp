#include "attnpaths/compare/compare.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "attnpaths/core/index.hpp"
#include "attnpaths/core/config.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/io/file_notes.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/results/samples_file.hpp"
#include "attnpaths/results/theory_file.hpp"

namespace attnpaths {

namespace {


double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = double(a.size());
  double mean_a = 0, mean_b = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    mean_a += a[i];
    mean_b += b[i];
  }
  mean_a /= n;
  mean_b /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - mean_a) * (b[i] - mean_b);
    saa += (a[i] - mean_a) * (a[i] - mean_a);
    sbb += (b[i] - mean_b) * (b[i] - mean_b);
  }
  return sab / std::sqrt(saa * sbb);
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

void require_finite(const std::vector<double>& v, const std::string& path, const char* what) {
  for (double x : v)
    ATTN_REQUIRE(std::isfinite(x), InputError, "compare: '{}': {} holds NaN or Inf (a failed run?)", path, what);
}

// The samples file's place in the theory grid: its (only) width and its temperature (the one rule,
// same_temperature). Throws InputError when it does not belong to this theory.
void match_grid_point(const TheoryResults& theory, const SamplesSummary& samples, ComparisonRow& row) {
  ATTN_REQUIRE(samples.data_checksum == theory.data_checksum, InputError,
               "compare: '{}' was sampled on another dataset than the theory '{}' (data checksums {} and {}; "
               "datasets '{}' and '{}')",
               samples.path, theory.path, samples.data_checksum, theory.data_checksum, samples.data_file,
               theory.data_file);
  for (auto w : samples.widths)
    ATTN_REQUIRE(w == samples.widths[0], InputError,
                 "compare: '{}' was sampled with unequal widths; the theory grid has one N", samples.path);
  row.samples_file = samples.path;
  row.width = samples.widths[0];
  row.temperature = samples.temperature;
  const auto iw = std::find(theory.widths.begin(), theory.widths.end(), row.width);
  ATTN_REQUIRE(iw != theory.widths.end(), InputError, "compare: width {} of '{}' is not in the theory grid of '{}'",
               row.width, samples.path, theory.path);
  row.width_index = static_cast<int>(iw - theory.widths.begin());
  row.temperature_index = theory.temperature_index(row.temperature);
  ATTN_REQUIRE(row.temperature_index >= 0, InputError,
               "compare: temperature {} of '{}' is not in the theory grid of '{}'", row.temperature, samples.path,
               theory.path);
}

// One samples file against its theory grid point.
ComparisonRow compare_one(const TheoryResults& theory, const SamplesSummary& samples, const Comm& comm) {
  ComparisonRow row;
  match_grid_point(theory, samples, row);
  const std::size_t grid = theory.grid_index(sz(row.temperature_index), sz(row.width_index));
  const std::size_t HH = sz(theory.paths) * sz(theory.paths);
  row.U1_theory.assign(theory.U1.begin() + static_cast<std::ptrdiff_t>(grid * HH),
                       theory.U1.begin() + static_cast<std::ptrdiff_t>((grid + 1) * HH));
  row.theory_converged = theory.converged[grid] != 0;
  row.U1_sampled = samples.U1_mean;
  row.U1_mcse = samples.U1_mcse;
  ATTN_REQUIRE(row.U1_sampled.size() == HH, InputError, "compare: '{}' has {} paths, the theory {}", samples.path,
               std::sqrt(double(row.U1_sampled.size())), theory.paths);
  std::vector<double> theory_mean, theory_var;
  read_theory_predictor(theory.path, comm, sz(row.temperature_index), sz(row.width_index), &theory_mean, &theory_var);
  ATTN_REQUIRE(samples.predictor_mean.size() == theory_mean.size(), InputError,
               "compare: '{}' has {} test points, the theory {}", samples.path, samples.predictor_mean.size(),
               theory_mean.size());
  require_finite(row.U1_theory, theory.path, "/theory/U1 at this grid point");
  require_finite(theory_mean, theory.path, "/predictor/theory/mean at this grid point");
  row.accuracy_theory = theory.theory_accuracy.at("test")[grid];
  row.accuracy_gp = theory.gp_accuracy.at("test")[sz(row.temperature_index)];
  row.accuracy_sampled = samples.accuracy;
  row.mean_correlation = pearson(theory_mean, samples.predictor_mean);
  row.variance_ratio = sum(samples.predictor_var) / sum(theory_var);
  row.rhat_U1 = samples.rhat_U1;
  row.rhat_predictor = samples.rhat_predictor;
  row.diagnostics_passed = samples.diagnostics_passed;
  return row;
}

}  // namespace

std::vector<ComparisonRow> compare_theory_samples(const CompareOptions& o, const Comm& comm, int* paths_out,
                                                  std::vector<std::string>* labels_out) {
  ATTN_REQUIRE(!o.theory.empty(), UsageError, "compare: --theory is required");
  ATTN_REQUIRE(!o.samples.empty(), UsageError, "compare: give at least one samples file (--samples)");
  const TheoryResults theory = read_theory_file(o.theory, comm);
  ATTN_REQUIRE(!theory.widths.empty(), InputError, "compare: '{}' is a --gp-only theory file (no widths)", o.theory);
  if (paths_out) *paths_out = theory.paths;
  if (labels_out) *labels_out = theory.path_labels;
  std::vector<ComparisonRow> rows;
  for (const auto& path : o.samples) rows.push_back(compare_one(theory, read_samples_summary(path, comm), comm));
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.temperature != b.temperature ? a.temperature < b.temperature : a.width < b.width;
  });
  return rows;
}

CompareRun::CompareRun(CompareOptions options, const Comm& world, std::vector<std::string> command_line)
    : options_(std::move(options)), world_(world), command_line_(std::move(command_line)) {}

int CompareRun::run() {
  const CompareOptions& o = options_;
  StageTimers timers;
  Provenance provenance = Provenance::collect(world_, command_line_);
  std::vector<std::string> inputs = o.samples;
  inputs.push_back(o.theory);
  std::optional<h5::OutputClaim> claim;
  if (!o.output.empty()) claim.emplace(o.output, world_, h5::OutputPolicy{o.overwrite, false, inputs});
  int paths = 0;
  std::vector<std::string> labels;
  std::vector<ComparisonRow> rows;
  {
    auto t = timers.stage("read");
    rows = compare_theory_samples(o, world_, &paths, &labels);
  }
  print(rows, labels);
  if (!o.output.empty()) write(rows, paths, labels, timers, provenance);
  return 0;
}

// The rows side by side, the warnings, and U_1 theory | sampled ± MCSE per row.
void CompareRun::print(const std::vector<ComparisonRow>& rows, const std::vector<std::string>& labels) const {
  const Log log(world_, options_.quiet);
  log.info("theory '{}' vs {} samples file(s)", options_.theory, rows.size());
  log.info("{:>7} {:>8} | {:>8} {:>8} {:>8} | {:>8} {:>8} | {:>7} {:>7} | {}", "N", "Temp", "acc th", "acc smp",
           "acc GP", "corr f", "var s/t", "Rhat U", "Rhat f", "verdict");
  for (const auto& r : rows)
    log.info("{:>7} {:>8.4g} | {:>8.4f} {:>8.4f} {:>8.4f} | {:>8.4f} {:>8.4f} | {:>7.4f} {:>7.4f} | {}{}", r.width,
             r.temperature, r.accuracy_theory, r.accuracy_sampled, r.accuracy_gp, r.mean_correlation, r.variance_ratio,
             r.rhat_U1, r.rhat_predictor, r.verdict(), r.theory_converged ? "" : " (theory NOT CONVERGED)");
  for (const auto& r : rows) {
    if (!r.theory_converged)
      log.warn("the theory point N = {}, Temp = {:g} of '{}' did not converge (/theory/converged = 0): its numbers "
               "are not the minimum of the action",
               r.width, r.temperature, options_.theory);
    if (!r.diagnostics_passed)
      log.warn("'{}': the sampler's diagnostics did not pass (/diagnostics@warnings): no verdict on its accuracy",
               r.samples_file);
  }
  const std::size_t H = labels.size();
  for (const auto& r : rows) {
    log.info("U1 at N = {}, Temp = {:.4g}: theory | sampled ± MCSE", r.width, r.temperature);
    for (std::size_t i = 0; i < H; ++i) {
      std::string theory_row, sampled_row;
      for (std::size_t j = 0; j < H; ++j) {
        theory_row += fmt::format(" {:8.4f}", r.U1_theory[i * H + j]);
        sampled_row += fmt::format(" {:8.4f}±{:<6.4f}", r.U1_sampled[i * H + j], r.U1_mcse[i * H + j]);
      }
      log.info("  {:>4} {} |{}", labels[i], theory_row, sampled_row);
    }
  }
}

// The compare file (docs/files.md §4).
void CompareRun::write(const std::vector<ComparisonRow>& rows, int paths, const std::vector<std::string>& labels,
                       StageTimers& timers, Provenance& provenance) const {
  const Log log(world_, options_.quiet);
  auto t = timers.stage("write");
  h5::OutputFile out(options_.output, world_);
  Config config;
  config.set("theory", options_.theory);
  config.set("samples", options_.samples);
  config.set("theory_checksum", file_checksum(options_.theory, world_));
  write_compare_file(out.file(), config, rows, paths, labels);
  provenance.finish();
  write_provenance(out.file(), provenance, timers);
  for (const auto& p : h5::annotate(out.file(), compare_file_notes(), labels))
    log.warn("no description for dataset {} (docs/files.md)", p);
  out.commit();
  log.info("wrote '{}'", options_.output);
}

}  // namespace attnpaths
