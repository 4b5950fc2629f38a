#include "attnpaths/train/model_file.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "attnpaths/io/run_record.hpp"

namespace attnpaths {

namespace {

constexpr const char* format_name = "attnpaths-model";
constexpr int format_version = 1;

hsize_t hs(std::int64_t n) { return static_cast<hsize_t>(n); }

// The Q (or K) blocks of θ in [L, H, G, N0] order, and back.
std::vector<double> gather_qk(const GdShape& g, const std::vector<double>& theta, bool keys) {
  std::vector<double> out;
  for (int l = 1; l <= g.layers; ++l)
    for (int h = 0; h < g.heads; ++h) {
      const auto* p = theta.data() + (keys ? g.k_offset(l, h) : g.q_offset(l, h));
      out.insert(out.end(), p, p + g.qk_block());
    }
  return out;
}
void scatter_qk(const GdShape& g, const std::vector<double>& block, bool keys, std::vector<double>& theta) {
  std::size_t i = 0;
  for (int l = 1; l <= g.layers; ++l)
    for (int h = 0; h < g.heads; ++h, i += sz(g.qk_block()))
      std::copy_n(block.data() + i, g.qk_block(), theta.data() + (keys ? g.k_offset(l, h) : g.q_offset(l, h)));
}

void write_weights(const h5::File& file, const GdShape& g, const std::vector<double>& theta) {
  const Architecture vs = g.value_shape();
  const hsize_t w = hs(g.width), N0 = hs(g.input_dim), L = hs(g.layers), H = hs(g.heads), G = hs(g.qk_dim);
  auto slice = [&](std::int64_t begin, std::int64_t end) {
    return std::vector<double>(theta.begin() + begin, theta.begin() + end);
  };
  file.write<double>("weights/v0", {w, N0}, slice(vs.v0_offset(), vs.v0_size()));
  file.write<double>("weights/v", {L, H, w, w}, slice(vs.layer_offset(1, 0), vs.readout_offset()));
  file.write<double>("weights/a", {w}, slice(vs.readout_offset(), vs.size()));
  file.write<double>("weights/q", {L, H, G, N0}, gather_qk(g, theta, false));
  file.write<double>("weights/k", {L, H, G, N0}, gather_qk(g, theta, true));
}

GdShape read_shape(const h5::File& file) {
  ATTN_REQUIRE(file.attr_string("format") == format_name, InputError, "'{}' is not a model file (format '{}', expected '{}')",
               file.file_path(), file.attr_string("format"), format_name);
  const auto net = file.group("network");
  GdShape g;
  g.tokens = static_cast<int>(net.attr_int("tokens"));
  g.input_dim = static_cast<int>(net.attr_int("input_dim"));
  g.width = static_cast<int>(net.attr_int("width"));
  g.qk_dim = static_cast<int>(net.attr_int("qk_dim"));
  g.heads = static_cast<int>(net.attr_int("heads"));
  g.layers = static_cast<int>(net.attr_int("layers"));
  g.readout = parse_readout(net.attr_string("readout"), fmt::format("model file '{}', /network@readout", file.file_path()));
  g.validate();
  return g;
}

std::vector<double> read_vector(const h5::File& file, const std::string& name, std::int64_t n) {
  std::vector<double> v = file.dataset(name).read_all<double>();
  ATTN_REQUIRE(static_cast<std::int64_t>(v.size()) == n, InputError, "model file '{}': '{}' holds {} values, expected {}",
               file.file_path(), name, v.size(), n);
  return v;
}

// A 1-D dataset that may be empty (no collective write of zero rows).
template <class T>
void write_vector(const h5::File& file, const std::string& name, const std::vector<T>& v) {
  if (v.empty())
    file.create_dataset<T>(name, {0});
  else
    file.write<T>(name, {hs(static_cast<std::int64_t>(v.size()))}, v);
}
template <class T>
std::vector<T> read_vector_any(const h5::File& file, const std::string& name) {
  const h5::Dataset d = file.dataset(name);
  const h5::Dims dims = d.dims();
  if (dims.size() == 1 && dims[0] == 0) return {};
  return d.read_all<T>();
}

}  // namespace

void write_model_file(const std::string& path, const Comm& comm, const GdShape& g, const std::string& precision,
                      const TrainProgress& p, const std::string& fingerprint, bool complete, const Config& config,
                      const Provenance& prov, const StageTimers& timers) {
  const std::string tmp = path + ".tmp";
  {
    h5::check_writable(path);
    h5::File file(tmp, comm, h5::File::Mode::create);
    write_format(file, format_name, format_version);
    file.set_attr("complete", std::int64_t{complete ? 1 : 0});
    {
      auto net = file.create_group("network");
      net.set_attr("tokens", g.tokens);
      net.set_attr("input_dim", g.input_dim);
      net.set_attr("width", g.width);
      net.set_attr("qk_dim", g.qk_dim);
      net.set_attr("heads", g.heads);
      net.set_attr("layers", g.layers);
      net.set_attr("readout", to_string(g.readout));
      net.set_attr("precision", precision);
      net.set_attr("parameters", g.size());
    }
    write_weights(file, g, p.best_theta.empty() ? p.state.theta : p.best_theta);
    {
      auto w = file.group("weights");
      w.set_attr("step", p.best_step);
      w.set_attr("validation_accuracy", p.best_accuracy);
      w.set_attr("validation_loss", p.best_loss);
    }
    const hsize_t n = hs(g.size());
    file.write<double>("state/theta", {n}, p.state.theta);
    file.write<double>("state/adam_m", {n}, p.state.adam_m);
    file.write<double>("state/adam_v", {n}, p.state.adam_v);
    {
      auto s = file.group("state");
      s.set_attr("step", p.state.step);
      s.set_attr("stale", p.stale);
      s.set_attr("loss_sum", p.loss_sum);
      s.set_attr("loss_count", p.loss_count);
      s.set_attr("fingerprint", fingerprint);
      s.set_attr("stop_reason", p.stop_reason);
      s.set_attr("has_best", std::int64_t{p.best_theta.empty() ? 0 : 1});
    }
    write_vector(file, "history/step", p.history.step);
    write_vector(file, "history/train_loss", p.history.train_loss);
    write_vector(file, "history/validation_loss", p.history.validation_loss);
    write_vector(file, "history/validation_accuracy", p.history.validation_accuracy);
    for (const auto& e : p.evaluations) {
      auto ev = file.require_group("evaluation/" + e.set);
      ev.set_attr("accuracy", e.accuracy);
      ev.set_attr("loss", e.loss);
      ev.set_attr("count", e.count);
    }
    write_config(file, config);
    write_provenance(file, prov, timers);
    file.close();
  }
  comm.barrier();
  if (comm.is_root()) {
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw InputError(fmt::format("cannot rename '{}' to '{}': {}", tmp, path, ec.message()));
  }
  comm.barrier();
}

TrainProgress read_checkpoint(const std::string& path, const Comm& comm, const GdShape& g,
                              const std::string& fingerprint) {
  const h5::File file(path, comm, h5::File::Mode::read);
  const GdShape stored = read_shape(file);
  const auto s = file.group("state");
  const std::string old = s.attr_string("fingerprint");
  ATTN_REQUIRE(old == fingerprint && stored.size() == g.size(), InputError,
               "cannot resume from '{}': its checkpoint was made with different options or data\n  checkpoint: {}\n  now:        {}",
               path, old, fingerprint);
  TrainProgress p;
  p.state.theta = read_vector(file, "state/theta", g.size());
  p.state.adam_m = read_vector(file, "state/adam_m", g.size());
  p.state.adam_v = read_vector(file, "state/adam_v", g.size());
  p.state.step = s.attr_int("step");
  p.stale = s.attr_int("stale");
  p.loss_sum = s.attr_double("loss_sum");
  p.loss_count = s.attr_int("loss_count");
  p.stop_reason = s.attr_string("stop_reason");
  if (s.attr_int("has_best")) {
    p.best_theta = read_model(path, comm).theta;
    const auto w = file.group("weights");
    p.best_step = w.attr_int("step");
    p.best_accuracy = w.attr_double("validation_accuracy");
    p.best_loss = w.attr_double("validation_loss");
  }
  p.history.step = read_vector_any<std::int64_t>(file, "history/step");
  p.history.train_loss = read_vector_any<double>(file, "history/train_loss");
  p.history.validation_loss = read_vector_any<double>(file, "history/validation_loss");
  p.history.validation_accuracy = read_vector_any<double>(file, "history/validation_accuracy");
  return p;
}

GdModel read_model(const std::string& path, const Comm& comm) {
  const h5::File file(path, comm, h5::File::Mode::read);
  GdModel m;
  m.path = path;
  m.shape = read_shape(file);
  m.precision = file.group("network").attr_string("precision");
  const GdShape& g = m.shape;
  const Architecture vs = g.value_shape();
  m.theta.assign(sz(g.size()), 0.0);
  auto put = [&](const std::string& name, std::int64_t offset, std::int64_t n) {
    const auto v = read_vector(file, name, n);
    std::copy(v.begin(), v.end(), m.theta.begin() + offset);
  };
  put("weights/v0", vs.v0_offset(), vs.v0_size());
  put("weights/v", vs.layer_offset(1, 0), vs.readout_offset() - vs.layer_offset(1, 0));
  put("weights/a", vs.readout_offset(), g.width);
  const std::int64_t qk = std::int64_t{g.layers} * g.heads * g.qk_block();
  scatter_qk(g, read_vector(file, "weights/q", qk), false, m.theta);
  scatter_qk(g, read_vector(file, "weights/k", qk), true, m.theta);
  for (double v : m.theta)
    ATTN_REQUIRE(std::isfinite(v), InputError, "model file '{}': a weight is not finite", path);
  return m;
}

Evaluation evaluate_model(const GdModel& model, const ExampleSet& set, const Comm& comm,
                          const std::vector<HeadRef>& removed) {
  ATTN_REQUIRE(!set.x.empty() || set.local.size() == 0, InputError, "evaluation: set '{}' holds no inputs", set.name);
  ATTN_REQUIRE(set.x.size() == sz(set.local.size()) * sz(model.shape.tokens) * sz(model.shape.input_dim), InputError,
               "evaluation: set '{}' has examples of another shape than the model '{}' ({} tokens × {})", set.name,
               model.path, model.shape.tokens, model.shape.input_dim);
  if (model.precision == "float32") {
    GdNetwork<float> net(model.shape);
    const AlignedVector<float> theta(model.theta.begin(), model.theta.end());
    return evaluate(net, theta.data(), set, comm, removed);
  }
  GdNetwork<double> net(model.shape);
  const AlignedVector<double> theta(model.theta.begin(), model.theta.end());
  return evaluate(net, theta.data(), set, comm, removed);
}

}  // namespace attnpaths
