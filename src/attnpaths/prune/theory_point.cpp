#include "attnpaths/prune/theory_point.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/io/run_record.hpp"

namespace attnpaths {

namespace {

std::size_t sz(std::int64_t n) { return static_cast<std::size_t>(n); }

std::size_t index_of(const std::vector<double>& temps, double t) {
  return sz(std::find_if(temps.begin(), temps.end(), [&](double x) { return std::abs(x - t) <= 1e-12 * x; }) -
            temps.begin());
}

// The temperature a selection group lists for width N: datasets `temperature` (or `temperatures`) and
// `widths`, in the group itself or in its subgroup `theory`. Returns 0 if the group has neither.
double selected_temperature(const h5::Location& g, std::int64_t width, const std::string& where) {
  for (const std::string base : {"theory/", ""}) {
    const std::string t = g.exists(base + "temperature") ? base + "temperature" : base + "temperatures";
    if (!g.exists(t) || !g.exists(base + "widths")) continue;
    const auto temps = g.dataset(t).read_all<double>();
    const auto widths = g.dataset(base + "widths").read_all<std::int64_t>();
    const auto it = std::find(widths.begin(), widths.end(), width);
    ATTN_REQUIRE(it != widths.end() && temps.size() == widths.size(), InputError,
                 "{}: no temperature selected for N = {} (widths [{}])", where, width, fmt::join(widths, ", "));
    return temps[sz(it - widths.begin())];
  }
  return 0;
}

// Rules 2–5 of theory_point.hpp: (temperature, rule).
std::pair<double, std::string> resolve_temperature(const h5::File& f, const std::string& selection, std::size_t iw,
                                                   std::int64_t width, const std::vector<double>& temps,
                                                   const Comm& comm) {
  if (!selection.empty()) {
    const h5::File s(selection, comm, h5::File::Mode::read);
    const double t = s.exists("selection") ? selected_temperature(s.group("selection"), width, selection) : 0;
    ATTN_REQUIRE(t > 0, InputError, "--selection '{}' has no /selection with widths and temperatures", selection);
    return {t, "selection file"};
  }
  if (f.exists("selection")) {
    const double t = selected_temperature(f.group("selection"), width, f.file_path() + " /selection");
    if (t > 0) return {t, "theory selection"};
  }
  if (f.exists("predictor/validation/theory/accuracy")) {
    const auto acc = f.dataset("predictor/validation/theory/accuracy").read_all<double>();  // [nT, nW]
    const std::size_t nW = acc.size() / temps.size();
    std::size_t best = 0;
    for (std::size_t t = 1; t < temps.size(); ++t)
      if (acc[t * nW + iw] > acc[best * nW + iw] || (acc[t * nW + iw] == acc[best * nW + iw] && temps[t] < temps[best]))
        best = t;
    return {temps[best], "validation"};
  }
  ATTN_REQUIRE(temps.size() == 1, UsageError,
               "'{}' has {} temperatures and no validation set: choose one with --temperature or --selection",
               f.file_path(), temps.size());
  return {temps[0], "only"};
}

}  // namespace

TheoryPoint read_theory_point(const std::string& theory, std::int64_t width, double temperature,
                              const std::string& selection, const Dataset& data, const Comm& comm) {
  const h5::File f(theory, comm, h5::File::Mode::read);
  ATTN_REQUIRE(f.has_attr("format") && f.attr_string("format") == "attnpaths-theory", InputError,
               "'{}' is not a theory file (root attribute format != \"attnpaths-theory\")", theory);
  const auto d = f.group("data");
  ATTN_REQUIRE(d.attr_string("checksum") == data.checksum, InputError,
               "theory file '{}' was computed from a different dataset (its /data checksum {} != {} of '{}')", theory,
               d.attr_string("checksum"), data.checksum, data.path);
  ATTN_REQUIRE(f.exists("theory/widths"), InputError, "theory file '{}' has no finite-width points (--gp-only)", theory);
  const auto temps = f.dataset("theory/temperatures").read_all<double>();
  const auto widths = f.dataset("theory/widths").read_all<std::int64_t>();
  const std::size_t iw = sz(std::find(widths.begin(), widths.end(), width) - widths.begin());
  ATTN_REQUIRE(iw < widths.size(), InputError, "--width {} is not in the grid [{}] of '{}'", width,
               fmt::join(widths, ", "), theory);
  TheoryPoint t;
  t.path = theory;
  t.width = width;
  if (temperature > 0)
    std::tie(t.temperature, t.temperature_rule) = std::make_pair(temperature, std::string("option"));
  else
    std::tie(t.temperature, t.temperature_rule) = resolve_temperature(f, selection, iw, width, temps, comm);
  const std::size_t it = index_of(temps, t.temperature);
  ATTN_REQUIRE(it < temps.size(), InputError, "temperature {} ({}) is not in the grid [{}] of '{}'", t.temperature,
               t.temperature_rule, fmt::join(temps, ", "), theory);
  t.temperature = temps[it];
  const std::size_t at = it * widths.size() + iw;
  ATTN_REQUIRE(f.dataset("theory/converged").read_all<std::int8_t>()[at] == 1, InputError,
               "theory file '{}': N = {}, Temp = {} did not converge", theory, width, t.temperature);
  const int H = data.attention.paths();
  ATTN_REQUIRE(d.attr_int("H_tot") == H, InputError, "theory file '{}' has H_tot = {}, the dataset '{}' {}", theory,
               d.attr_int("H_tot"), data.path, H);
  const auto U1 = f.dataset("theory/U1").read_slab<double>({it, iw, 0, 0}, {1, 1, sz(H), sz(H)});
  t.U1 = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(U1.data(), H, H);
  t.variances = f.group("config").attr_doubles("variances_resolved");
  t.test_accuracy = f.dataset("predictor/theory/accuracy").read_all<double>()[at];
  t.checksum = file_checksum(theory, comm);
  return t;
}

}  // namespace attnpaths
