#include "attnpaths/results/theory_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/eigen.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/results/result_file.hpp"

namespace attnpaths {

namespace {

const char* const statistic_names[] = {"accuracy", "bias", "variance"};

// mean/var [lead..., Q] and accuracy/bias/variance [lead...] of one predictor.
void create_statistics(const h5::File& file, const std::string& base, const h5::Dims& lead, hsize_t Q) {
  h5::Dims rows = lead;
  rows.push_back(Q);
  file.create_dataset<double>(base + "/mean", rows);
  file.create_dataset<double>(base + "/var", rows);
  for (const char* stat : statistic_names) file.create_dataset<double>(base + "/" + stat, lead);
}

void create_grid(const h5::File& file, const TheoryFileLayout& layout) {
  const hsize_t nT = layout.temperatures.size(), nW = layout.widths.size(), H = static_cast<hsize_t>(layout.paths);
  file.write<std::int64_t>("theory/widths", {nW}, layout.widths);
  file.create_dataset<std::int8_t>("progress/theory", {nT, nW});
  file.write<double>("theory/temperatures", {nT}, layout.temperatures);
  file.create_dataset<double>("theory/U1", {nT, nW, H, H});
  for (std::size_t l = 0; l < layout.U_orders.size(); ++l) {
    const hsize_t order = static_cast<hsize_t>(layout.U_orders[l]);
    file.create_dataset<double>(fmt::format("theory/U{}", l + 2), {nT, nW, order, order});
  }
  for (const char* name : {"Ua", "action", "energy", "entropy", "grad_max", "seconds"})
    file.create_dataset<double>(fmt::format("theory/{}", name), {nT, nW});
  for (const char* name : {"iterations", "newton_steps", "evaluations"})
    file.create_dataset<std::int64_t>(fmt::format("theory/{}", name), {nT, nW});
  file.create_dataset<std::int8_t>("theory/converged", {nT, nW});
  file.group("theory").set_attr("grad_tol", layout.grad_tol);
  file.group("theory").set_attr("stopping_rule", "max_l max|dS/dU_l| < grad_tol (S normalised by max_l w_l)");
}

void create_baseline(const h5::File& file, const BaselineLayout& b, hsize_t nT) {
  const std::string root = "/baselines/" + b.name;
  auto g = file.create_group(root.substr(1));
  g.set_attr("file", b.file);
  g.set_attr("checksum", b.checksum);
  g.set_attr("path_labels", b.path_labels);
  g.set_attr("H_tot", b.paths);
  for (const auto& [set, Q] : b.sets) create_statistics(file, predictor_group(set, root), {nT}, static_cast<hsize_t>(Q));
}

}  // namespace

std::string predictor_group(const std::string& set_name, const std::string& root) {
  if (set_name == "test") return root;
  return root + "/" + set_name;  // "validation", "ood/<name>"
}

bool same_temperature(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b)); }

int TheoryResults::temperature_index(double temperature) const {
  for (std::size_t t = 0; t < temperatures.size(); ++t)
    if (same_temperature(temperatures[t], temperature)) return static_cast<int>(t);
  return -1;
}

// ---------------------------------------------------------------------------------------------- writer

template <class T>
void TheoryFileWriter::replicated(const std::string& path, const h5::Dims& lead, const std::vector<T>& values) const {
  const h5::Dataset d = file_.dataset(path);
  const h5::Dims dims = d.dims();
  h5::Dims start(dims.size(), 0), count(dims.size(), 1);
  for (std::size_t i = 0; i < lead.size(); ++i) start[i] = lead[i];
  for (std::size_t i = lead.size(); i < dims.size(); ++i) count[i] = dims[i];
  if (!comm_.is_root()) std::fill(count.begin(), count.end(), 0);  // identical on every rank: rank 0 writes
  d.write_slab<T>(start, count, values.data());
}

void TheoryFileWriter::rows(const std::string& path, const h5::Dims& lead, const Range& local,
                            const std::vector<double>& v) const {
  const h5::Dataset d = file_.dataset(path);
  h5::Dims start(lead), count(lead.size(), 1);
  start.push_back(static_cast<hsize_t>(local.begin));
  count.push_back(static_cast<hsize_t>(local.size()));
  if (local.size() == 0) std::fill(count.begin(), count.end(), 0);
  d.write_slab<double>(start, count, v.data());
}

void TheoryFileWriter::create(const TheoryFileLayout& layout) const {
  const hsize_t nT = layout.temperatures.size(), nW = layout.widths.size();
  file_.create_dataset<std::int8_t>("progress/gp", {nT});
  if (nW) {
    create_grid(file_, layout);
  } else {
    file_.write<double>("theory/temperatures", {nT}, layout.temperatures);
  }
  for (const auto& [set, Q] : layout.sets) {
    const std::string group = predictor_group(set);
    if (nW)
      for (const char* v : {"/theory", "/theory_diagonal"}) create_statistics(file_, group + v, {nT, nW}, hsize_t(Q));
    create_statistics(file_, group + "/gp", {nT}, static_cast<hsize_t>(Q));
  }
  for (const auto& b : layout.baselines) create_baseline(file_, b, nT);
  if (layout.alignment > 0) {
    const hsize_t k = static_cast<hsize_t>(layout.alignment);
    file_.create_dataset<double>("alignment/gp", {nT, k});
    if (nW) file_.create_dataset<double>("alignment/theory", {nT, nW, k});
    file_.group("alignment").set_attr("definition", "|v_k . y| / sqrt(P), v_k eigenvectors of the train kernel "
                                                    "(no Temp) by decreasing eigenvalue");
  }
}

void TheoryFileWriter::create_kernels(const std::vector<std::int64_t>& subset, const std::vector<double>& labels,
                                      const std::vector<double>& path_kernels, int paths,
                                      const std::vector<double>& gp_kernel, bool renormalized, hsize_t nT,
                                      hsize_t nW) const {
  const hsize_t m = subset.size();
  file_.write<std::int64_t>("kernels/subset", {m}, subset);
  file_.write<double>("kernels/labels", {m}, labels);
  file_.write<double>("kernels/path", {static_cast<hsize_t>(paths), m, m}, path_kernels);
  file_.write<double>("kernels/gp", {m, m}, gp_kernel);
  if (renormalized) file_.create_dataset<double>("kernels/renormalized", {nT, nW, m, m});
  file_.group("kernels").set_attr("definition", "sum_pp' U_pp' C_pp' on the subset (no Temp); path[p] = C_pp");
}

void TheoryFileWriter::statistics(const std::string& base, const h5::Dims& lead, const PredictorStatistics& st,
                                  const Range& local) const {
  rows(base + "/mean", lead, local, st.mean);
  rows(base + "/var", lead, local, st.var);
  replicated<double>(base + "/accuracy", lead, {st.accuracy});
  replicated<double>(base + "/bias", lead, {st.bias});
  replicated<double>(base + "/variance", lead, {st.variance});
}

void TheoryFileWriter::gp_alignment(hsize_t t, const std::vector<double>& values) const {
  replicated<double>("/alignment/gp", {t}, values);
}

void TheoryFileWriter::theory_alignment(hsize_t t, hsize_t w, const std::vector<double>& values) const {
  replicated<double>("/alignment/theory", {t, w}, values);
}

void TheoryFileWriter::renormalized_kernel(hsize_t t, hsize_t w, const std::vector<double>& block) const {
  replicated<double>("/kernels/renormalized", {t, w}, block);
}

void TheoryFileWriter::point(hsize_t t, hsize_t w, const TheoryPointRecord& r) const {
  const h5::Dims at{t, w};
  for (std::size_t l = 0; l < r.U.size(); ++l) replicated<double>(fmt::format("/theory/U{}", l + 1), at, row_major(r.U[l]));
  const std::pair<const char*, double> scalars[] = {{"Ua", r.Ua},           {"action", r.action},
                                                    {"energy", r.energy},   {"entropy", r.entropy},
                                                    {"grad_max", r.grad_max}, {"seconds", r.seconds}};
  for (const auto& [name, v] : scalars) replicated<double>(fmt::format("/theory/{}", name), at, {v});
  replicated<std::int64_t>("/theory/iterations", at, {r.iterations});
  replicated<std::int64_t>("/theory/newton_steps", at, {r.newton_steps});
  replicated<std::int64_t>("/theory/evaluations", at, {r.evaluations});
  replicated<std::int8_t>("/theory/converged", at, {static_cast<std::int8_t>(r.converged ? 1 : 0)});
}

void TheoryFileWriter::mark_gp_done(hsize_t t) const { replicated<std::int8_t>("/progress/gp", {t}, {1}); }
void TheoryFileWriter::mark_point_done(hsize_t t, hsize_t w) const {
  replicated<std::int8_t>("/progress/theory", {t, w}, {1});
}
std::vector<std::int8_t> TheoryFileWriter::gp_progress() const {
  return file_.dataset("progress/gp").read_all<std::int8_t>();
}
std::vector<std::int8_t> TheoryFileWriter::theory_progress() const {
  return file_.exists("progress/theory") ? file_.dataset("progress/theory").read_all<std::int8_t>()
                                         : std::vector<std::int8_t>{};
}

// ---------------------------------------------------------------------------------------------- reader

namespace {

// The evaluation sets stored under `root`: "test" if root/gp/accuracy (or root/accuracy for a
// baseline) exists, "validation", and "ood/<name>" for each child of root/ood.
std::vector<std::string> stored_sets(const h5::File& f, const std::string& root, const std::string& probe) {
  std::vector<std::string> sets;
  if (f.exists(root + probe)) sets.push_back("test");
  if (f.exists(root + "/validation" + probe)) sets.push_back("validation");
  if (f.is_group(root + "/ood"))
    for (const auto& name : f.group(root + "/ood").children())
      if (f.exists(root + "/ood/" + name + probe)) sets.push_back("ood/" + name);
  return sets;
}

}  // namespace

TheoryResults read_theory_file(const std::string& path, const Comm& comm) {
  require_finished_output(path, "theory");
  const h5::File f(path, comm, h5::File::Mode::read);
  require_format(f, path, "attnpaths-theory");
  return read_theory_results(f, path);
}

TheoryResults read_theory_results(const h5::File& f, const std::string& path) {
  TheoryResults r;
  r.path = path;
  r.data_checksum = f.group("config").attr_string("data_checksum");
  r.data_file = f.group("config").attr_string("data");
  r.temperatures = f.dataset("theory/temperatures").read_all<double>();
  if (f.exists("theory/widths")) r.widths = f.dataset("theory/widths").read_all<std::int64_t>();
  const auto data = f.group("data");
  r.paths = static_cast<int>(data.attr_int("H_tot"));
  r.token_dim = static_cast<int>(data.attr_int("N0"));
  r.variances = f.group("config").attr_doubles("variances_resolved");
  r.path_labels = data.attr_strings("path_labels");
  r.sets = stored_sets(f, "/predictor", "/gp/accuracy");
  for (const auto& set : r.sets) {
    const std::string g = predictor_group(set);
    r.gp_accuracy[set] = f.dataset(g + "/gp/accuracy").read_all<double>();
    if (!r.widths.empty()) r.theory_accuracy[set] = f.dataset(g + "/theory/accuracy").read_all<double>();
  }
  if (f.is_group("baselines"))
    for (const auto& name : f.group("baselines").children()) {
      const std::string root = "/baselines/" + name;
      for (const auto& set : stored_sets(f, root, "/accuracy"))
        r.baseline_accuracy[name][set] = f.dataset(predictor_group(set, root) + "/accuracy").read_all<double>();
    }
  if (!r.widths.empty()) {
    const auto dims = f.dataset("theory/U1").dims();
    ATTN_REQUIRE(dims.size() == 4 && dims[0] == r.temperatures.size() && dims[1] == r.widths.size() &&
                     dims[2] == dims[3] && dims[2] == static_cast<hsize_t>(r.paths),
                 InputError, "'{}': /theory/U1 is not [nT, nW, H_tot, H_tot]", path);
    r.U1 = f.dataset("theory/U1").read_all<double>();
    r.converged = f.dataset("theory/converged").read_all<std::int8_t>();
    r.iterations = f.dataset("theory/iterations").read_all<std::int64_t>();
    r.newton_steps = f.dataset("theory/newton_steps").read_all<std::int64_t>();
    r.seconds = f.dataset("theory/seconds").read_all<double>();
    r.diagonal_accuracy = f.dataset("predictor/theory_diagonal/accuracy").read_all<double>();
  }
  return r;
}

void read_theory_predictor(const std::string& path, const Comm& comm, std::size_t t, std::size_t w,
                           std::vector<double>* mean, std::vector<double>* var) {
  h5::File f(path, comm, h5::File::Mode::read);
  const auto dims = f.dataset("predictor/theory/mean").dims();
  ATTN_REQUIRE(dims.size() == 3 && t < dims[0] && w < dims[1], InputError,
               "'{}': /predictor/theory/mean is not [nT, nW, Q] with grid point ({}, {})", path, t, w);
  const h5::Dims start{t, w, 0}, count{1, 1, dims[2]};
  *mean = f.dataset("predictor/theory/mean").read_slab<double>(start, count);
  *var = f.dataset("predictor/theory/var").read_slab<double>(start, count);
}

}  // namespace attnpaths
