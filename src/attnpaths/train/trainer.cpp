#include "attnpaths/train/trainer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/predict/predictor.hpp"

namespace attnpaths {

namespace {

template <class Real>
AlignedVector<Real> to_real(const std::vector<double>& v) {
  return AlignedVector<Real>(v.begin(), v.end());
}
}  // namespace

// ------------------------------------------------------------------------------------------ streams

std::string SyntheticStream::describe() const {
  return fmt::format("synthetic: {} × {} N(0,1) tokens, y = sign(Σ_s x_s[0]), seed {}", T_, N0_, seed_);
}

void SyntheticStream::episode(std::uint64_t index, double* x, double* y) const {
  RandomStream rng(seed_, rng_domain::training_synthetic, index);
  double sum = 0;
  for (int s = 0; s < T_; ++s)
    for (int i = 0; i < N0_; ++i) {
      x[sz(s) * sz(N0_) + sz(i)] = rng.normal();
      if (i == 0) sum += x[sz(s) * sz(N0_)];
    }
  *y = sum > 0 ? 1.0 : -1.0;
}

// ------------------------------------------------------------------------------------------ trainer

template <class Real>
Trainer<Real>::Trainer(const GdShape& shape, const AdamOptions& adam, int batch, int blocks, const Comm& comm)
    : shape_(shape), adam_(adam), batch_(batch), comm_(comm), blocks_(batch, blocks, comm), net_(shape),
      coefficients_(path_coefficients(shape)) {
  ATTN_REQUIRE(batch >= 1, InputError, "train: --batch must be positive (got {})", batch);
  theta_.assign(sz(shape.size()), Real(0));
  m_.assign(theta_.size(), Real(0));
  v_.assign(theta_.size(), Real(0));
  grad_.assign(theta_.size(), Real(0));
}

template <class Real>
void Trainer<Real>::set_state(const TrainState& s) {
  ATTN_REQUIRE(s.theta.size() == theta_.size() && s.adam_m.size() == theta_.size() && s.adam_v.size() == theta_.size(),
               InputError, "train: a state of {} weights for a network of {}", s.theta.size(), theta_.size());
  theta_ = to_real<Real>(s.theta);
  m_ = to_real<Real>(s.adam_m);
  v_ = to_real<Real>(s.adam_v);
  t_ = s.step;
}

template <class Real>
TrainState Trainer<Real>::state() const {
  TrainState s;
  s.theta.assign(theta_.begin(), theta_.end());
  s.adam_m.assign(m_.begin(), m_.end());
  s.adam_v.assign(v_.begin(), v_.end());
  s.step = t_;
  return s;
}

// Per owned block: forward, loss, df = 2(f − y)/B, backward into the block's partial
// [Σ(f − y)² | dU | dM]; the fixed-tree reduction; then the weight gradient from the reduced partial.
template <class Real>
double Trainer<Real>::loss_and_gradient(const AlignedVector<Real>& x, const std::vector<double>& y,
                                        AlignedVector<Real>& grad) {
  const std::int64_t m = 1 + net_.partial_size();
  const std::size_t per = sz(shape_.tokens) * sz(shape_.input_dim);
  std::vector<double> partials(sz(blocks_.local_blocks()) * sz(m), 0.0), reduced(sz(m));
  AlignedVector<Real>& f = f_;
  AlignedVector<Real>& df = df_;
  net_.prepare(theta_.data(), coefficients_);
  const std::int64_t first = blocks_.local().begin;
  for (int b = 0; b < blocks_.local_blocks(); ++b) {
    const Range r = blocks_.block(b);
    const int n = static_cast<int>(r.size());
    const Real* xb = x.data() + sz(r.begin - first) * per;
    f.assign(sz(n), Real(0));
    df.assign(sz(n), Real(0));
    net_.forward(xb, n, f.data());
    double* part = partials.data() + sz(b) * sz(m);
    for (int i = 0; i < n; ++i) {
      const double e = double(f[sz(i)]) - y[sz(r.begin - first + i)];
      ATTN_REQUIRE(std::isfinite(e), NumericalError, "train: the network output is not finite (step {})", t_);
      part[0] += e * e;
      df[sz(i)] = Real(2.0 * e / batch_);
    }
    net_.backward(xb, n, df.data(), part + 1);
  }
  blocks_.reduce(partials, static_cast<int>(m), reduced.data());
  net_.weight_gradient(theta_.data(), reduced.data() + 1, grad.data());
  return reduced[0] / batch_;
}

// torch.optim.Adam (single tensor): g += wd·θ; m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²;
// θ −= (lr/(1−β1^t)) · m / (√v/√(1−β2^t) + eps).
template <class Real>
void Trainer<Real>::adam_update(const AlignedVector<Real>& grad) {
  ++t_;
  const double bc1 = 1.0 - std::pow(adam_.beta1, double(t_)), bc2 = 1.0 - std::pow(adam_.beta2, double(t_));
  const Real step_size = Real(adam_.lr / bc1), bc2_sqrt = Real(std::sqrt(bc2));
  const Real b1 = Real(adam_.beta1), b2 = Real(adam_.beta2), wd = Real(adam_.weight_decay), eps = Real(adam_.eps);
  const std::size_t n = theta_.size();
  for (std::size_t i = 0; i < n; ++i) {
    const Real g = grad[i] + wd * theta_[i];
    m_[i] = b1 * m_[i] + (Real(1) - b1) * g;
    v_[i] = b2 * v_[i] + (Real(1) - b2) * g * g;
    theta_[i] -= step_size * m_[i] / (std::sqrt(v_[i]) / bc2_sqrt + eps);
  }
}

template <class Real>
double Trainer<Real>::step(const EpisodeStream& stream) {
  ATTN_REQUIRE(stream.tokens() == shape_.tokens && stream.token_dim() == shape_.input_dim, InputError,
               "train: the episode stream gives {} × {} tokens, the network expects {} × {}", stream.tokens(),
               stream.token_dim(), shape_.tokens, shape_.input_dim);
  const Range local = blocks_.local();
  const std::size_t per = sz(shape_.tokens) * sz(shape_.input_dim);
  std::vector<double> xd(per), y(sz(local.size()));
  AlignedVector<Real>& x = x_;
  x.resize(sz(local.size()) * per);
  for (std::int64_t i = local.begin; i < local.end; ++i) {
    stream.episode(static_cast<std::uint64_t>(t_ * batch_ + i), xd.data(), &y[sz(i - local.begin)]);
    std::transform(xd.begin(), xd.end(), x.begin() + static_cast<std::ptrdiff_t>(sz(i - local.begin) * per),
                   [](double v) { return Real(v); });
  }
  const double loss = loss_and_gradient(x, y, grad_);
  adam_update(grad_);
  return loss;
}

template <class Real>
double Trainer<Real>::gradient(const double* x, const double* y, AlignedVector<Real>& grad) {
  const Range local = blocks_.local();
  const std::size_t per = sz(shape_.tokens) * sz(shape_.input_dim);
  AlignedVector<Real> xl(x + sz(local.begin) * per, x + sz(local.end) * per);
  std::vector<double> yl(y + local.begin, y + local.end);
  grad.assign(theta_.size(), Real(0));
  return loss_and_gradient(xl, yl, grad);
}

// ------------------------------------------------------------------------------------------ evaluation

template <class Real>
Evaluation evaluate(GdNetwork<Real>& net, const Real* theta, const ExampleSet& set, const Comm& comm,
                    const std::vector<HeadRef>& removed) {
  net.prepare(theta, path_coefficients(net.shape(), removed));
  std::vector<double> f(sz(set.local.size()));
  predict(net, set.x.data(), set.local.size(), f.data());
  const std::vector<double> all_f = comm.allgather_blocks(f), all_y = comm.allgather_blocks(set.y);
  Evaluation e;
  e.set = set.name;
  e.count = static_cast<std::int64_t>(all_f.size());
  for (double value : all_f)
    ATTN_REQUIRE(std::isfinite(value), NumericalError, "evaluation on '{}': the network output is not finite", set.name);
  const ScoreSums sums = score_sums(all_f, {}, all_y);
  if (e.count > 0) {
    e.accuracy = sums.correct / double(e.count);
    e.loss = sums.squared_error / double(e.count);
  }
  return e;
}

template class Trainer<float>;
template class Trainer<double>;
template Evaluation evaluate<float>(GdNetwork<float>&, const float*, const ExampleSet&, const Comm&,
                                    const std::vector<HeadRef>&);
template Evaluation evaluate<double>(GdNetwork<double>&, const double*, const ExampleSet&, const Comm&,
                                     const std::vector<HeadRef>&);

}  // namespace attnpaths
