#include "attnpaths/selection/selection.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "attnpaths/core/error.hpp"

namespace attnpaths {

namespace {

// One temperature of the merged grid: which file holds it, at which index.
struct Column {
  const TheoryResults* file;
  std::size_t t;
  double temperature;
};

void check_belong_together(const std::vector<TheoryResults>& files) {
  ATTN_REQUIRE(!files.empty(), UsageError, "select: give at least one theory file");
  const TheoryResults& first = files.front();
  for (const auto& f : files) {
    ATTN_REQUIRE(f.data_checksum == first.data_checksum, InputError,
                 "select: '{}' and '{}' were computed on different datasets (data checksums {} and {})", f.path,
                 first.path, f.data_checksum, first.data_checksum);
    ATTN_REQUIRE(f.widths == first.widths, InputError, "select: '{}' and '{}' have different widths N", f.path,
                 first.path);
    ATTN_REQUIRE(f.sets == first.sets, InputError, "select: '{}' and '{}' have different evaluation sets", f.path,
                 first.path);
    ATTN_REQUIRE(std::find(f.sets.begin(), f.sets.end(), "validation") != f.sets.end(), InputError,
                 "select: '{}' has no validation results: its dataset '{}' has no /validation set (e.g. `attnpaths "
                 "data markov --validation-examples 1000`)",
                 f.path, f.data_file);
  }
}

// The temperatures of every file, ascending; one temperature in two files is an error.
std::vector<Column> merged_columns(const std::vector<TheoryResults>& files) {
  std::vector<Column> columns;
  for (const auto& f : files)
    for (std::size_t t = 0; t < f.temperatures.size(); ++t) columns.push_back({&f, t, f.temperatures[t]});
  std::stable_sort(columns.begin(), columns.end(),
                   [](const Column& a, const Column& b) { return a.temperature < b.temperature; });
  for (std::size_t i = 1; i < columns.size(); ++i)
    ATTN_REQUIRE(!same_temperature(columns[i - 1].temperature, columns[i].temperature), InputError,
                 "select: temperature {:g} is in '{}' and in '{}' (give each grid point once)", columns[i].temperature,
                 columns[i - 1].file->path, columns[i].file->path);
  return columns;
}

using Accuracy = std::function<double(const std::string& set, const Column& c)>;

// The column with the highest validation accuracy among the candidates (ties: the lowest Temp, i.e. the
// first); then the accuracies of the reported sets there.
SelectedTemperature pick(const std::vector<Column>& columns, const std::vector<std::string>& sets,
                         const Accuracy& accuracy, const std::function<bool(const Column&)>& candidate) {
  SelectedTemperature s;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const double v = accuracy("validation", columns[i]);
    if (!candidate(columns[i]) || std::isnan(v)) continue;
    if (s.index < 0 || v > s.validation_accuracy) {
      s.index = static_cast<int>(i);
      s.validation_accuracy = v;
    }
  }
  if (s.index < 0) return s;
  const Column& c = columns[static_cast<std::size_t>(s.index)];
  s.temperature = c.temperature;
  for (const auto& set : sets) s.accuracy[set] = accuracy(set, c);
  return s;
}

// The theory at width index w: converged points first; none converged → all, flagged.
SelectedTemperature pick_theory(const std::vector<Column>& columns, const std::vector<std::string>& sets,
                                std::size_t w) {
  const Accuracy accuracy = [w](const std::string& set, const Column& c) {
    return c.file->theory_accuracy.at(set)[c.file->grid_index(c.t, w)];
  };
  const auto converged = [w](const Column& c) { return c.file->converged[c.file->grid_index(c.t, w)] != 0; };
  SelectedTemperature s = pick(columns, sets, accuracy, converged);
  if (s.index < 0) {
    s = pick(columns, sets, accuracy, [](const Column&) { return true; });
    s.converged = false;
  }
  return s;
}

const auto any_column = [](const Column&) { return true; };

}  // namespace

TemperatureSelection select_temperatures(const std::vector<TheoryResults>& files) {
  check_belong_together(files);
  const TheoryResults& first = files.front();
  TemperatureSelection sel;
  for (const auto& f : files) sel.sources.push_back(f.path);
  sel.data_file = first.data_file;
  sel.data_checksum = first.data_checksum;
  sel.widths = first.widths;
  for (const auto& set : first.sets)
    if (set != "validation") sel.sets.push_back(set);
  const std::vector<Column> columns = merged_columns(files);
  for (const auto& c : columns) sel.temperatures.push_back(c.temperature);
  for (std::size_t w = 0; w < sel.widths.size(); ++w) sel.theory.push_back(pick_theory(columns, sel.sets, w));
  sel.gp = pick(columns, sel.sets, [](const std::string& set, const Column& c) {
    return c.file->gp_accuracy.at(set)[c.t];
  }, any_column);
  for (const auto& [name, by_set] : first.baseline_accuracy) {
    if (!by_set.count("validation")) continue;  // its dataset has no validation set
    std::vector<std::string> sets;
    for (const auto& kv : by_set)
      if (kv.first != "validation") sets.push_back(kv.first);
    const std::string baseline = name;
    for (const auto& f : files)
      ATTN_REQUIRE(f.baseline_accuracy.count(baseline) && f.baseline_accuracy.at(baseline).count("validation"),
                   InputError, "select: '{}' has no GP baseline '{}' with validation results, '{}' has", f.path,
                   baseline, first.path);
    sel.baselines[name] = pick(columns, sets, [baseline](const std::string& set, const Column& c) {
      return c.file->baseline_accuracy.at(baseline).at(set)[c.t];
    }, any_column);
  }
  return sel;
}

// ---------------------------------------------------------------------------------------------- writer

namespace {

// temperature, temperature_index, validation_accuracy, accuracy/<set> (and converged) of one predictor
// series, each [n] (one entry per width for the theory, one for the GP and each baseline).
void write_series(const h5::File& file, const std::string& group, const std::vector<SelectedTemperature>& picks,
                  bool with_converged) {
  const hsize_t n = picks.size();
  std::vector<double> temperature, validation;
  std::vector<std::int64_t> index;
  std::vector<std::int8_t> converged;
  std::map<std::string, std::vector<double>> accuracy;
  for (const auto& p : picks) {
    temperature.push_back(p.index < 0 ? std::nan("") : p.temperature);
    validation.push_back(p.index < 0 ? std::nan("") : p.validation_accuracy);
    index.push_back(p.index);
    converged.push_back(p.converged ? 1 : 0);
    for (const auto& [set, a] : p.accuracy) accuracy[set].push_back(a);
  }
  file.write<double>(group + "/temperature", {n}, temperature);
  file.write<std::int64_t>(group + "/temperature_index", {n}, index);
  file.write<double>(group + "/validation_accuracy", {n}, validation);
  for (const auto& [set, a] : accuracy)
    if (a.size() == n) file.write<double>(group + "/accuracy/" + set, {n}, a);
  if (with_converged) file.write<std::int8_t>(group + "/converged", {n}, converged);
}

}  // namespace

void write_selection(const h5::File& file, const TemperatureSelection& sel) {
  file.write<double>("selection/temperatures", {sel.temperatures.size()}, sel.temperatures);
  if (!sel.widths.empty()) {
    file.write<std::int64_t>("selection/widths", {sel.widths.size()}, sel.widths);
    write_series(file, "selection/theory", sel.theory, true);
  }
  write_series(file, "selection/gp", {sel.gp}, false);
  for (const auto& [name, pick] : sel.baselines) write_series(file, "selection/baselines/" + name, {pick}, false);
  auto g = file.group("selection");
  g.set_attr("rule", "for each width N (and for the GP and each GP baseline): the Temp with the highest accuracy on "
                     "the validation set; ties: the lowest Temp; theory: only converged grid points, unless none "
                     "converged (then /selection/theory/converged = 0)");
  g.set_attr("sources", sel.sources);
  g.set_attr("data_file", sel.data_file);
  g.set_attr("data_checksum", sel.data_checksum);
  g.set_attr("validation_set", sel.data_file + ":/validation");
}

void log_selection(const Log& log, const TemperatureSelection& sel) {
  std::string header = fmt::format("{:>9} {:>8} {:>10}", "N", "Temp", "validation");
  for (const auto& set : sel.sets) header += fmt::format(" {:>10}", set);
  log.info("");
  log.info("temperature selection on the validation set of '{}' (ties: the lowest Temp)", sel.data_file);
  log.info("{}", header);
  const auto line = [&](const std::string& name, const SelectedTemperature& p, bool converged) {
    if (p.index < 0) return log.info("{:>9} no candidate (NaN validation accuracy)", name);
    std::string row = fmt::format("{:>9} {:>8.4g} {:>10.4f}", name, p.temperature, p.validation_accuracy);
    for (const auto& set : sel.sets) row += p.accuracy.count(set) ? fmt::format(" {:>10.4f}", p.accuracy.at(set)) : "";
    log.info("{}{}", row, converged ? "" : "  NOT CONVERGED");
  };
  for (std::size_t w = 0; w < sel.widths.size(); ++w)
    line(std::to_string(sel.widths[w]), sel.theory[w], sel.theory[w].converged);
  line("GP", sel.gp, true);
  for (const auto& [name, p] : sel.baselines) line(name, p, true);
}

}  // namespace attnpaths
