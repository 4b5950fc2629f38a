#include "attnpaths/prune/theory_point.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/eigen.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/io/run_record.hpp"
#include "attnpaths/results/theory_file.hpp"
#include "attnpaths/selection/selection.hpp"

namespace attnpaths {

namespace {

// The temperature a selection group (`attnpaths select` / `theory`: /selection/widths [nW],
// /selection/theory/temperature [nW], /selection/theory/temperature_index, −1 = none) chose for width N.
// Returns 0 if the group has no theory selection.
double selected_temperature(const h5::Location& g, std::int64_t width, const std::string& where) {
  if (!g.exists("widths") || !g.exists("theory/temperature")) return 0;
  const auto temps = g.dataset("theory/temperature").read_all<double>();
  const auto widths = g.dataset("widths").read_all<std::int64_t>();
  const auto it = std::find(widths.begin(), widths.end(), width);
  ATTN_REQUIRE(it != widths.end() && temps.size() == widths.size(), InputError,
               "{}: no temperature selected for N = {} (widths [{}])", where, width, fmt::join(widths, ", "));
  const std::size_t i = sz(it - widths.begin());
  if (g.exists("theory/temperature_index"))
    ATTN_REQUIRE(g.dataset("theory/temperature_index").read_all<std::int64_t>()[i] >= 0, InputError,
                 "{}: no temperature selected for N = {} (temperature_index -1)", where, width);
  return temps[i];
}

// Rules 2–5 of theory_point.hpp: (temperature, rule).
std::pair<double, std::string> resolve_temperature(const TheoryResults& r, const std::string& selection,
                                                   std::size_t iw, std::int64_t width, const Comm& comm) {
  const std::vector<double>& temps = r.temperatures;
  if (!selection.empty()) {
    const h5::File s(selection, comm, h5::File::Mode::read);
    const double t = s.exists("selection") ? selected_temperature(s.group("selection"), width, selection) : 0;
    ATTN_REQUIRE(t > 0, InputError, "--selection '{}' has no /selection with widths and temperatures", selection);
    return {t, "selection file"};
  }
  const h5::File f(r.path, comm, h5::File::Mode::read);
  if (f.exists("selection")) {
    const double t = selected_temperature(f.group("selection"), width, r.path + " /selection");
    if (t > 0) return {t, "theory selection"};
  }
  if (std::find(r.sets.begin(), r.sets.end(), "validation") != r.sets.end()) {  // best validation accuracy
    const SelectedTemperature chosen = select_temperatures({r}).theory[iw];
    ATTN_REQUIRE(chosen.index >= 0 && chosen.converged, InputError, "'{}': no temperature converged at N = {}", r.path,
                 width);
    return {chosen.temperature, "validation"};
  }
  ATTN_REQUIRE(temps.size() == 1, UsageError,
               "'{}' has {} temperatures and no validation set: choose one with --temperature or --selection",
               r.path, temps.size());
  return {temps[0], "only"};
}

}  // namespace

TheoryPoint read_theory_point(const std::string& theory, std::int64_t width, double temperature,
                              const std::string& selection, const Dataset& data, const Comm& comm) {
  const TheoryResults r = read_theory_file(theory, comm);
  ATTN_REQUIRE(r.data_checksum == data.checksum, InputError,
               "theory file '{}' was computed from a different dataset (its /data checksum {} != {} of '{}')", theory,
               r.data_checksum, data.checksum, data.path);
  ATTN_REQUIRE(!r.widths.empty(), InputError, "theory file '{}' has no finite-width points (--gp-only)", theory);
  const std::size_t iw = sz(std::find(r.widths.begin(), r.widths.end(), width) - r.widths.begin());
  ATTN_REQUIRE(iw < r.widths.size(), InputError, "--width {} is not in the grid [{}] of '{}'", width,
               fmt::join(r.widths, ", "), theory);
  TheoryPoint t;
  t.path = theory;
  t.width = width;
  if (temperature > 0)
    std::tie(t.temperature, t.temperature_rule) = std::make_pair(temperature, std::string("option"));
  else
    std::tie(t.temperature, t.temperature_rule) = resolve_temperature(r, selection, iw, width, comm);
  const int it = r.temperature_index(t.temperature);
  ATTN_REQUIRE(it >= 0, InputError, "temperature {} ({}) is not in the grid [{}] of '{}'", t.temperature,
               t.temperature_rule, fmt::join(r.temperatures, ", "), theory);
  t.temperature = r.temperatures[sz(it)];
  const std::size_t at = r.grid_index(sz(it), iw);
  ATTN_REQUIRE(r.converged[at] == 1, InputError, "theory file '{}': N = {}, Temp = {} did not converge", theory, width,
               t.temperature);
  const int H = data.attention.paths();
  ATTN_REQUIRE(r.paths == H, InputError, "theory file '{}' has H_tot = {}, the dataset '{}' {}", theory, r.paths,
               data.path, H);
  t.U1 = from_row_major(r.U1.data() + at * sz(H) * sz(H), H, H);
  t.variances = r.variances;
  t.test_accuracy = r.theory_accuracy.at("test")[at];
  t.checksum = file_checksum(theory, comm);
  return t;
}

}  // namespace attnpaths
