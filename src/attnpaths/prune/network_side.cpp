#include "attnpaths/prune/network_side.hpp"

#include <cmath>

#include "attnpaths/core/eigen.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/error.hpp"
#include "attnpaths/model/network.hpp"
#include "attnpaths/predict/predictor.hpp"
#include "attnpaths/train/gd_network.hpp"

namespace attnpaths {

namespace {


template <class Real>
std::vector<double> local_terms(const GdModel& model, const ExampleSet& set) {
  GdNetwork<Real> net(model.shape);
  const AlignedVector<Real> theta(model.theta.begin(), model.theta.end());
  net.prepare(theta.data(), std::vector<double>(sz(model.shape.paths()), 1.0));
  std::vector<double> f(sz(set.local.size())), g(sz(set.local.size()) * sz(model.shape.paths()));
  predict(net, set.x.data(), set.local.size(), f.data(), g.data());
  return g;
}

}  // namespace

NetworkPathTerms network_path_terms(const GdModel& model, const ExampleSet& set, const Comm& comm) {
  ATTN_REQUIRE(set.x.size() == sz(set.local.size()) * sz(model.shape.tokens) * sz(model.shape.input_dim), InputError,
               "pruning: set '{}' has examples of another shape than the model '{}' ({} tokens × {})", set.name,
               model.path, model.shape.tokens, model.shape.input_dim);
  NetworkPathTerms t;
  t.set = set.name;
  t.paths = model.shape.paths();
  const auto local = model.precision == "float32" ? local_terms<float>(model, set) : local_terms<double>(model, set);
  t.g = comm.allgather_blocks(local);
  t.y = comm.allgather_blocks(set.y);
  for (double v : t.g)
    ATTN_REQUIRE(std::isfinite(v), NumericalError, "pruning on '{}': the network output is not finite", set.name);
  return t;
}

Evaluation pruned_network_evaluation(const NetworkPathTerms& terms, const GdShape& shape,
                                     const std::vector<HeadRef>& removed) {
  const std::vector<double> c = path_coefficients(shape, removed);
  Evaluation e;
  e.set = terms.set;
  e.count = static_cast<std::int64_t>(terms.y.size());
  std::vector<double> f(terms.y.size(), 0.0);  // f = Σ_π c_π g_π
  for (std::size_t mu = 0; mu < terms.y.size(); ++mu)
    for (int pi = 0; pi < terms.paths; ++pi) f[mu] += c[sz(pi)] * terms.g[mu * sz(terms.paths) + sz(pi)];
  const ScoreSums sums = score_sums(f, {}, terms.y);
  if (e.count > 0) {
    e.accuracy = sums.correct / double(e.count);
    e.loss = sums.squared_error / double(e.count);
  }
  return e;
}

// U^GD = (w0·w1⋯wL) · U^s: PathNetwork's W_π carries 1/sqrt(w1⋯wL) and U^s = W Wᵀ / w0 (model/network.hpp).
Eigen::MatrixXd gd_order_parameter(const GdModel& model) {
  const Architecture vs = model.shape.value_shape();
  PathNetwork values(vs);
  values.forward_path_weights(model.theta.data());
  const int H = vs.paths();
  std::vector<double> Us(sz(H) * sz(H));
  values.order_parameter(Us.data());
  double scale = 1;
  for (double w : vs.widths) scale *= w;
  return scale * from_row_major(Us.data(), H, H);
}

void check_model_attention(const GdModel& model, const AttentionSpec& attention, const std::string& data_path) {
  const GdShape& g = model.shape;
  ATTN_REQUIRE(attention.depth() == g.layers, InputError, "model '{}' has {} layers, the attention of '{}' {}",
               model.path, g.layers, data_path, attention.depth());
  for (int l = 1; l <= g.layers; ++l) {
    const AttentionLayer& layer = attention.layers[sz(l - 1)];
    ATTN_REQUIRE(layer.style == AttentionStyle::qk && layer.heads == g.heads && layer.qk_dim == g.qk_dim, InputError,
                 "'{}' layer {}: the attention is not the model '{}''s ({} qk heads of G = {}): prune needs the "
                 "dataset that `attnpaths train --output-data` wrote with this model",
                 data_path, l, model.path, g.heads, g.qk_dim);
    double diff = 0, norm = 0;
    for (int h = 0; h < g.heads; ++h)
      for (std::int64_t i = 0; i < g.qk_block(); ++i) {
        const std::size_t at = sz(h * g.qk_block() + i);
        const double q = model.theta[sz(g.q_offset(l, h) + i)], k = model.theta[sz(g.k_offset(l, h) + i)];
        diff = std::max({diff, std::abs(q - layer.q[at]), std::abs(k - layer.k[at])});
        norm = std::max({norm, std::abs(q), std::abs(k)});
      }
    ATTN_REQUIRE(diff <= 1e-6 * norm, InputError,
                 "'{}' layer {}: its Q, K differ from the model '{}''s (max difference {:.3g}): prune needs the "
                 "dataset that `attnpaths train --output-data` wrote with this model", data_path, l, model.path, diff);
  }
}

}  // namespace attnpaths
