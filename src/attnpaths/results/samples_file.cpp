#include "attnpaths/results/samples_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/results/result_file.hpp"

namespace attnpaths {

const char* const draw_statistics[7] = {"step_size",  "energy",     "accept_stat", "log_density",
                                        "tree_depth", "n_leapfrog", "divergent"};

namespace {

hsize_t hs(std::int64_t n) { return static_cast<hsize_t>(n); }

void require_finite(const std::vector<double>& v, const std::string& path, const char* what) {
  for (double x : v) ATTN_REQUIRE(std::isfinite(x), InputError, "'{}': {} holds NaN or Inf (a failed run?)", path, what);
}

}  // namespace

SamplesSummary read_samples_summary(const std::string& path, const Comm& comm) {
  require_finished_output(path, "samples");
  const h5::File f(path, comm, h5::File::Mode::read);
  require_format(f, path, "attnpaths-samples");
  SamplesSummary s;
  s.path = path;
  const auto config = f.group("config");
  s.data_file = config.attr_string("data");
  s.data_checksum = config.attr_string("data_checksum");
  s.widths = config.attr_ints("widths");
  s.temperature = config.attr_double("temperature");
  s.U1_mean = f.dataset("sampled/U1/mean").read_all<double>();
  s.U1_mcse = f.dataset("sampled/U1/mcse").read_all<double>();
  s.predictor_mean = f.dataset("sampled/predictor/mean").read_all<double>();
  s.predictor_var = f.dataset("sampled/predictor/var").read_all<double>();
  s.accuracy = f.dataset("sampled/predictor/accuracy").read_all<double>()[0];
  require_finite(s.U1_mean, path, "/sampled/U1/mean");
  require_finite(s.predictor_mean, path, "/sampled/predictor/mean");
  const auto diagnostics = f.group("diagnostics");
  s.rhat_U1 = diagnostics.attr_double("rhat_max_U1");
  s.rhat_predictor = diagnostics.attr_double("rhat_max_predictor");
  s.diagnostics_passed = diagnostics.has_attr("passed") && diagnostics.attr_int("passed") == 1;
  return s;
}

void SamplesFileWriter::create_draws(const SamplesLayout& l) const {
  const hsize_t C = hs(l.chains), H = hs(l.paths), Q = hs(l.test_examples);
  const hsize_t cs = hs(std::min<std::int64_t>(l.draws, 64));
  file_.create_dataset<double>("samples/U1", {C, 0, H, H}, {C, H5S_UNLIMITED, H, H}, {1, cs, H, H});
  file_.create_dataset<double>("samples/f_test", {C, 0, Q}, {C, H5S_UNLIMITED, Q},
                               {1, hs(std::min<std::int64_t>(l.thinned_draws, 16)), std::min<hsize_t>(Q, 4096)});
  const hsize_t cst = hs(std::min<std::int64_t>(l.draws, 1024));
  for (const char* s : {"step_size", "energy", "accept_stat", "log_density"})
    file_.create_dataset<double>(fmt::format("samples/stats/{}", s), {C, 0}, {C, H5S_UNLIMITED}, {1, cst});
  for (const char* s : {"tree_depth", "n_leapfrog"})
    file_.create_dataset<std::int64_t>(fmt::format("samples/stats/{}", s), {C, 0}, {C, H5S_UNLIMITED}, {1, cst});
  file_.create_dataset<std::int8_t>("samples/stats/divergent", {C, 0}, {C, H5S_UNLIMITED}, {1, cst});
}

h5::Dataset SamplesFileWriter::draws(const std::string& name, std::int64_t rows) const {
  auto d = file_.dataset(name);
  auto dims = d.dims();
  if (dims[1] < hs(rows)) {
    dims[1] = hs(rows);
    d.extend(dims);
  }
  return d;
}

void SamplesFileWriter::summaries(const SampledSummaries& s, std::int64_t chains, std::int64_t paths,
                                  std::int64_t test_examples) const {
  const hsize_t C = hs(chains), H = hs(paths), Q = hs(test_examples);
  file_.write<double>("sampled/U1/mean", {H, H}, s.U_mean);
  file_.write<double>("sampled/U1/mcse", {H, H}, s.U_mcse);
  file_.write<double>("sampled/predictor/mean", {Q}, s.p_mean);
  file_.write<double>("sampled/predictor/var", {Q}, s.p_var);
  file_.write_scalar<double>("sampled/predictor/accuracy", s.accuracy);
  file_.write_scalar<double>("sampled/predictor/bias", s.bias);
  file_.write_scalar<double>("sampled/predictor/variance", s.variance);
  file_.write<double>("diagnostics/U1/rhat", {H, H}, s.U_rhat);
  file_.write<double>("diagnostics/U1/ess_bulk", {H, H}, s.U_bulk);
  file_.write<double>("diagnostics/U1/ess_tail", {H, H}, s.U_tail);
  file_.write<double>("diagnostics/predictor/rhat", {Q}, s.p_rhat);
  file_.write<double>("diagnostics/predictor/ess_bulk", {Q}, s.p_bulk);
  file_.write<double>("diagnostics/predictor/ess_tail", {Q}, s.p_tail);
  file_.write<std::int64_t>("diagnostics/chains/divergences", {C}, s.chain_divergences);
  file_.write<std::int64_t>("diagnostics/chains/treedepth_hits", {C}, s.chain_treedepth_hits);
  file_.write<double>("diagnostics/chains/ebfmi", {C}, s.chain_ebfmi);
  file_.write<double>("diagnostics/chains/accept_rate", {C}, s.chain_accept);
  file_.write<double>("diagnostics/chains/step_size", {C}, s.chain_step);
  file_.write<std::int64_t>("diagnostics/chains/gradient_evaluations", {C}, s.chain_gradients);
  file_.write<double>("diagnostics/chains/seconds", {C}, s.chain_seconds);
}

void SamplesFileWriter::headline(const DiagnosticsHeadline& h) const {
  auto g = file_.require_group("diagnostics");
  g.set_attr("rhat_max_U1", h.rhat_max_U1);
  g.set_attr("rhat_max_predictor", h.rhat_max_predictor);
  g.set_attr("ess_bulk_min_U1", h.ess_bulk_min_U1);
  g.set_attr("ess_tail_min_U1", h.ess_tail_min_U1);
  g.set_attr("ess_bulk_min_predictor", h.ess_bulk_min_predictor);
  g.set_attr("ess_tail_min_predictor", h.ess_tail_min_predictor);
  g.set_attr("divergences", h.divergences);
  g.set_attr("passed", h.warnings.empty() ? 1 : 0);
  g.set_attr("warnings", h.warnings);
  g.set_attr("definitions",
             "rhat: rank-normalised split-R-hat, max(bulk, folded tail) (Vehtari et al. 2021); ess_bulk: ESS of the "
             "rank-normalised split chains; ess_tail: min ESS of I(x<=q05), I(x<=q95); mcse: sd/sqrt(ESS_mean); "
             "ebfmi: mean squared energy difference / energy variance; treedepth_hits: draws at the max depth");
}

std::string missing_draws(const h5::File& file, std::int64_t drawn, std::int64_t thin) {
  const std::int64_t f_rows = (drawn + thin - 1) / thin;
  std::vector<std::pair<std::string, std::int64_t>> need = {{"samples/U1", drawn}, {"samples/f_test", f_rows}};
  for (const char* s : draw_statistics) need.emplace_back(fmt::format("samples/stats/{}", s), drawn);
  for (const auto& [path, rows] : need) {
    if (!file.exists(path)) return fmt::format("/{} is missing", path);
    const h5::Dims d = file.dataset(path).dims();
    if (d.size() < 2 || static_cast<std::int64_t>(d[1]) < rows)
      return fmt::format("/{} holds {} draws per chain, the checkpoint counts {}", path, d.size() < 2 ? 0 : d[1], rows);
  }
  return "";
}

}  // namespace attnpaths
