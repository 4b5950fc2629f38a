#include "attnpaths/results/compare_file.hpp"

#include <cmath>
#include <functional>

#include "attnpaths/io/run_record.hpp"

namespace attnpaths {

std::string ComparisonRow::verdict() const {
  if (!diagnostics_passed) return "diagnostics failed";
  return std::abs(accuracy_sampled - accuracy_theory) < 0.03 ? "agrees" : "differs";
}

namespace {

// One value per row, [rows].
template <class T>
void write_column(const h5::File& file, const std::string& path, const std::vector<ComparisonRow>& rows,
                  const std::function<T(const ComparisonRow&)>& value) {
  std::vector<T> column;
  for (const auto& r : rows) column.push_back(value(r));
  file.write<T>(path, {rows.size()}, column);
}

// One H × H matrix per row, [rows, H, H].
void write_matrices(const h5::File& file, const std::string& path, const std::vector<ComparisonRow>& rows, int paths,
                    std::vector<double> ComparisonRow::*member) {
  std::vector<double> all;
  for (const auto& r : rows) all.insert(all.end(), (r.*member).begin(), (r.*member).end());
  const hsize_t h = static_cast<hsize_t>(paths);
  file.write<double>(path, {rows.size(), h, h}, all);
}

}  // namespace

void write_compare_file(const h5::File& file, const Config& config, const std::vector<ComparisonRow>& rows, int paths,
                        const std::vector<std::string>& path_labels) {
  using Row = ComparisonRow;
  write_format(file, "attnpaths-compare", 1);
  write_config(file, config);
  write_column<std::int64_t>(file, "compare/widths", rows, [](const Row& r) { return r.width; });
  write_column<double>(file, "compare/temperatures", rows, [](const Row& r) { return r.temperature; });
  write_column<double>(file, "compare/accuracy/theory", rows, [](const Row& r) { return r.accuracy_theory; });
  write_column<double>(file, "compare/accuracy/sampled", rows, [](const Row& r) { return r.accuracy_sampled; });
  write_column<double>(file, "compare/accuracy/gp", rows, [](const Row& r) { return r.accuracy_gp; });
  write_matrices(file, "compare/U1/theory", rows, paths, &Row::U1_theory);
  write_matrices(file, "compare/U1/sampled", rows, paths, &Row::U1_sampled);
  write_matrices(file, "compare/U1/mcse", rows, paths, &Row::U1_mcse);
  write_column<double>(file, "compare/predictor/mean_correlation", rows, [](const Row& r) { return r.mean_correlation; });
  write_column<double>(file, "compare/predictor/variance_ratio", rows, [](const Row& r) { return r.variance_ratio; });
  write_column<double>(file, "compare/rhat/U1", rows, [](const Row& r) { return r.rhat_U1; });
  write_column<double>(file, "compare/rhat/predictor", rows, [](const Row& r) { return r.rhat_predictor; });
  write_column<std::int64_t>(file, "compare/diagnostics_passed", rows,
                             [](const Row& r) { return std::int64_t{r.diagnostics_passed ? 1 : 0}; });
  write_column<std::int64_t>(file, "compare/theory_converged", rows,
                             [](const Row& r) { return std::int64_t{r.theory_converged ? 1 : 0}; });
  std::vector<std::string> files, verdicts;
  for (const auto& r : rows) {
    files.push_back(r.samples_file);
    verdicts.push_back(r.verdict());
  }
  auto g = file.require_group("compare");  // closed before the caller commits
  g.set_attr("samples_files", files);
  g.set_attr("path_labels", path_labels);
  g.set_attr("verdicts", verdicts);
}

}  // namespace attnpaths
