#include "attnpaths/sampler/compare.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "attnpaths/core/config.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/io/file_notes.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/io/run_record.hpp"

namespace attnpaths {

namespace {

std::size_t sz(std::int64_t n) { return static_cast<std::size_t>(n); }

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = double(a.size());
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

std::vector<double> slice(const std::vector<double>& v, std::size_t offset, std::size_t n) {
  return std::vector<double>(v.begin() + static_cast<std::ptrdiff_t>(offset),
                             v.begin() + static_cast<std::ptrdiff_t>(offset + n));
}

// A finished output of `kind` ("theory", "samples"): never the FILE.partial of an unfinished run.
void require_finished(const std::string& path, const char* kind) {
  const std::string suffix = ".partial";
  ATTN_REQUIRE(path.size() < suffix.size() || path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0,
               InputError,
               "compare: '{}' is an unfinished {} run (a .partial file holds no final results); finish it with --resume",
               path, kind);
}

void require_finite(const std::vector<double>& v, const std::string& path, const char* what) {
  for (double x : v)
    ATTN_REQUIRE(std::isfinite(x), InputError, "compare: '{}': {} holds NaN or Inf (a failed run?)", path, what);
}

}  // namespace

std::string ComparisonRow::verdict() const {
  if (!diagnostics_passed) return "diagnostics failed";
  return std::abs(accuracy_sampled - accuracy_theory) < 0.03 ? "agrees" : "differs";
}

std::vector<ComparisonRow> compare_theory_samples(const CompareOptions& o, const Comm& comm, int* paths_out,
                                                  std::vector<std::string>* labels_out) {
  ATTN_REQUIRE(!o.theory.empty(), UsageError, "compare: --theory is required");
  ATTN_REQUIRE(!o.samples.empty(), UsageError, "compare: give at least one samples file (--samples)");
  require_finished(o.theory, "theory");
  h5::File th(o.theory, comm, h5::File::Mode::read);
  ATTN_REQUIRE(th.has_attr("format") && th.attr_string("format") == "attnpaths-theory", InputError,
               "compare: '{}' is not a theory file (root attribute format != \"attnpaths-theory\")", o.theory);
  const auto widths = th.dataset("theory/widths").read_all<std::int64_t>();
  const auto temps = th.dataset("theory/temperatures").read_all<double>();
  const auto U1 = th.dataset("theory/U1").read_all<double>();
  const auto U1dims = th.dataset("theory/U1").dims();
  ATTN_REQUIRE(U1dims.size() == 4 && U1dims[0] == temps.size() && U1dims[1] == widths.size() && U1dims[2] == U1dims[3],
               InputError, "compare: '{}': /theory/U1 is not [nT, nW, H, H]", o.theory);
  const int H = static_cast<int>(U1dims[2]);
  const auto pmean = th.dataset("predictor/theory/mean").read_all<double>();
  const auto pvar = th.dataset("predictor/theory/var").read_all<double>();
  const auto pdims = th.dataset("predictor/theory/mean").dims();
  ATTN_REQUIRE(pdims.size() == 3 && pdims[0] == temps.size() && pdims[1] == widths.size(), InputError,
               "compare: '{}': /predictor/theory/mean is not [nT, nW, Q]", o.theory);
  const std::size_t Q = pdims[2];
  const auto acc = th.dataset("predictor/theory/accuracy").read_all<double>();
  const auto converged = th.dataset("theory/converged").read_all<std::int8_t>();
  const std::string theory_checksum = th.group("config").attr_string("data_checksum");
  const auto gp = th.dataset("predictor/gp/accuracy").read_all<double>();
  if (paths_out) *paths_out = H;
  if (labels_out) {
    labels_out->clear();
    if (th.exists("data") && th.group("data").has_attr("path_labels"))
      *labels_out = th.group("data").attr_strings("path_labels");
    if (labels_out->size() != sz(H)) {
      labels_out->clear();
      for (int p = 0; p < H; ++p) labels_out->push_back(std::to_string(p));
    }
  }
  std::vector<ComparisonRow> rows;
  for (const auto& path : o.samples) {
    require_finished(path, "samples");
    h5::File sf(path, comm, h5::File::Mode::read);
    ATTN_REQUIRE(sf.has_attr("format") && sf.attr_string("format") == "attnpaths-samples", InputError,
                 "compare: '{}' is not a samples file (root attribute format != \"attnpaths-samples\")", path);
    auto cfg = sf.group("config");
    ATTN_REQUIRE(cfg.attr_string("data_checksum") == theory_checksum, InputError,
                 "compare: '{}' was sampled on another dataset than the theory '{}' (data checksums {} and {}; "
                 "datasets '{}' and '{}')",
                 path, o.theory, cfg.attr_string("data_checksum"), theory_checksum, cfg.attr_string("data"),
                 th.group("config").attr_string("data"));
    const auto w = cfg.attr_ints("widths");
    for (auto x : w)
      ATTN_REQUIRE(x == w[0], InputError, "compare: '{}' was sampled with unequal widths; the theory grid has one N", path);
    ComparisonRow r;
    r.samples_file = path;
    r.width = w[0];
    r.temperature = cfg.attr_double("temperature");
    const auto iw = std::find(widths.begin(), widths.end(), r.width);
    ATTN_REQUIRE(iw != widths.end(), InputError, "compare: width {} of '{}' is not in the theory grid of '{}'", r.width,
                 path, o.theory);
    r.width_index = static_cast<int>(iw - widths.begin());
    r.temperature_index = -1;
    for (std::size_t t = 0; t < temps.size(); ++t)
      if (std::abs(temps[t] - r.temperature) <= 1e-9 * std::abs(r.temperature)) r.temperature_index = static_cast<int>(t);
    ATTN_REQUIRE(r.temperature_index >= 0, InputError,
                 "compare: temperature {} of '{}' is not in the theory grid of '{}'", r.temperature, path, o.theory);
    const std::size_t grid = sz(r.temperature_index) * widths.size() + sz(r.width_index);
    r.U1_theory = slice(U1, grid * sz(H) * sz(H), sz(H) * sz(H));
    r.theory_converged = converged[grid] != 0;
    r.U1_sampled = sf.dataset("sampled/U1/mean").read_all<double>();
    r.U1_mcse = sf.dataset("sampled/U1/mcse").read_all<double>();
    ATTN_REQUIRE(r.U1_sampled.size() == sz(H) * sz(H), InputError, "compare: '{}' has {} paths, the theory {}", path,
                 std::sqrt(double(r.U1_sampled.size())), H);
    const auto smean = sf.dataset("sampled/predictor/mean").read_all<double>();
    const auto svar = sf.dataset("sampled/predictor/var").read_all<double>();
    ATTN_REQUIRE(smean.size() == Q, InputError, "compare: '{}' has {} test points, the theory {}", path, smean.size(), Q);
    const auto tmean = slice(pmean, grid * Q, Q), tvar = slice(pvar, grid * Q, Q);
    r.accuracy_theory = acc[grid];
    r.accuracy_gp = gp[sz(r.temperature_index)];
    r.accuracy_sampled = sf.dataset("sampled/predictor/accuracy").read_all<double>()[0];
    r.mean_correlation = pearson(tmean, smean);
    double sv = 0, tv = 0;
    for (std::size_t q = 0; q < Q; ++q) {
      sv += svar[q];
      tv += tvar[q];
    }
    r.variance_ratio = sv / tv;
    require_finite(r.U1_sampled, path, "/sampled/U1/mean");
    require_finite(smean, path, "/sampled/predictor/mean");
    require_finite(r.U1_theory, o.theory, "/theory/U1 at this grid point");
    require_finite(tmean, o.theory, "/predictor/theory/mean at this grid point");
    auto diag = sf.group("diagnostics");
    r.rhat_U1 = diag.attr_double("rhat_max_U1");
    r.rhat_predictor = diag.attr_double("rhat_max_predictor");
    r.diagnostics_passed = diag.has_attr("passed") && diag.attr_int("passed") == 1;
    rows.push_back(r);
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.temperature != b.temperature ? a.temperature < b.temperature : a.width < b.width;
  });
  return rows;
}

CompareRun::CompareRun(CompareOptions options, const Comm& world, std::vector<std::string> command_line)
    : options_(std::move(options)), world_(world), command_line_(std::move(command_line)) {}

int CompareRun::run() {
  const CompareOptions& o = options_;
  Log log(world_, o.quiet);
  StageTimers timers;
  Provenance prov = Provenance::collect(world_, command_line_);
  std::vector<std::string> inputs = o.samples;
  inputs.push_back(o.theory);
  std::optional<h5::OutputClaim> claim;
  if (!o.output.empty()) claim.emplace(o.output, world_, h5::OutputPolicy{o.overwrite, false, inputs});
  // 1. Read and match.
  int H = 0;
  std::vector<std::string> labels;
  std::vector<ComparisonRow> rows;
  {
    auto t = timers.stage("read");
    rows = compare_theory_samples(o, world_, &H, &labels);
  }
  // 2. Print side by side.
  log.info("theory '{}' vs {} samples file(s)", o.theory, rows.size());
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
               r.width, r.temperature, o.theory);
    if (!r.diagnostics_passed)
      log.warn("'{}': the sampler's diagnostics did not pass (/diagnostics@warnings): no verdict on its accuracy",
               r.samples_file);
  }
  for (const auto& r : rows) {
    log.info("U1 at N = {}, Temp = {:.4g}: theory | sampled ± MCSE", r.width, r.temperature);
    for (int i = 0; i < H; ++i) {
      std::string a, b;
      for (int j = 0; j < H; ++j) {
        const std::size_t k = sz(i) * sz(H) + sz(j);
        a += fmt::format(" {:8.4f}", r.U1_theory[k]);
        b += fmt::format(" {:8.4f}±{:<6.4f}", r.U1_sampled[k], r.U1_mcse[k]);
      }
      log.info("  {:>4} {} |{}", labels[sz(i)], a, b);
    }
  }
  // 3. Store.
  if (!o.output.empty()) {
    auto t = timers.stage("write");
    h5::OutputFile out(o.output, world_);
    h5::File& f = out.file();
    write_format(f, "attnpaths-compare", 1);
    Config c;
    c.set("theory", o.theory);
    c.set("samples", o.samples);
    c.set("theory_checksum", file_checksum(o.theory, world_));
    write_config(f, c);
    const hsize_t n = rows.size(), h = static_cast<hsize_t>(H);
    std::vector<std::int64_t> w;
    std::vector<double> T, at, as, ag, corr, vr, ru, rf, ut, us, um;
    std::vector<std::string> files, verdicts;
    std::vector<std::int64_t> passed, conv;
    for (const auto& r : rows) {
      passed.push_back(r.diagnostics_passed ? 1 : 0);
      conv.push_back(r.theory_converged ? 1 : 0);
      verdicts.push_back(r.verdict());
      w.push_back(r.width);
      T.push_back(r.temperature);
      at.push_back(r.accuracy_theory);
      as.push_back(r.accuracy_sampled);
      ag.push_back(r.accuracy_gp);
      corr.push_back(r.mean_correlation);
      vr.push_back(r.variance_ratio);
      ru.push_back(r.rhat_U1);
      rf.push_back(r.rhat_predictor);
      ut.insert(ut.end(), r.U1_theory.begin(), r.U1_theory.end());
      us.insert(us.end(), r.U1_sampled.begin(), r.U1_sampled.end());
      um.insert(um.end(), r.U1_mcse.begin(), r.U1_mcse.end());
      files.push_back(r.samples_file);
    }
    f.write<std::int64_t>("compare/widths", {n}, w);
    f.write<double>("compare/temperatures", {n}, T);
    f.write<double>("compare/accuracy/theory", {n}, at);
    f.write<double>("compare/accuracy/sampled", {n}, as);
    f.write<double>("compare/accuracy/gp", {n}, ag);
    f.write<double>("compare/U1/theory", {n, h, h}, ut);
    f.write<double>("compare/U1/sampled", {n, h, h}, us);
    f.write<double>("compare/U1/mcse", {n, h, h}, um);
    f.write<double>("compare/predictor/mean_correlation", {n}, corr);
    f.write<double>("compare/predictor/variance_ratio", {n}, vr);
    f.write<double>("compare/rhat/U1", {n}, ru);
    f.write<double>("compare/rhat/predictor", {n}, rf);
    f.write<std::int64_t>("compare/diagnostics_passed", {n}, passed);
    f.write<std::int64_t>("compare/theory_converged", {n}, conv);
    {
      auto g = f.require_group("compare");  // closed before the commit
      g.set_attr("samples_files", files);
      g.set_attr("path_labels", labels);
      g.set_attr("verdicts", verdicts);
    }
    prov.finish();
    write_provenance(f, prov, timers);
    for (const auto& p : h5::annotate(f, compare_file_notes(), labels))
      log.warn("no description for dataset {} (docs/files.md)", p);
    out.commit();
    log.info("wrote '{}'", o.output);
  }
  return 0;
}

}  // namespace attnpaths
