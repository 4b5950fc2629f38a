#include "attnpaths/sampler/nuts.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "attnpaths/core/error.hpp"

namespace attnpaths {

namespace {
double log_sum_exp(double a, double b) {
  if (a == -std::numeric_limits<double>::infinity()) return b;
  if (b == -std::numeric_limits<double>::infinity()) return a;
  const double m = std::max(a, b);
  return m + std::log(std::exp(a - m) + std::exp(b - m));
}
constexpr double neg_inf = -std::numeric_limits<double>::infinity();
}  // namespace

Nuts::Nuts(LogDensity& target, NutsOptions options) : target_(target), options_(options), n_(target.dimension()) {
  ATTN_REQUIRE(options.max_depth >= 1, InputError, "max tree depth must be at least 1 (got {})", options.max_depth);
  const auto n = static_cast<std::size_t>(n_);
  for (Point* z : {&zf_, &zb_}) {
    z->q.assign(n, 0.0);
    z->p.assign(n, 0.0);
    z->g.assign(n, 0.0);
  }
  for (Vec* v : {&p_fwd_bck_, &p_fwd_fwd_, &p_bck_fwd_, &p_bck_bck_, &rho_, &rho_fwd_, &rho_bck_}) v->assign(n, 0.0);
  sample_.q.assign(n, 0.0);
  propose_.q.assign(n, 0.0);
}

Nuts::Level& Nuts::level(int depth) {
  while (static_cast<int>(levels_.size()) <= depth) {
    levels_.emplace_back();
    Level& l = levels_.back();
    const auto n = static_cast<std::size_t>(n_);
    l.propose_final.q.assign(n, 0.0);
    for (Vec* v : {&l.p_init_end, &l.p_final_beg, &l.rho_init, &l.rho_final}) v->assign(n, 0.0);
  }
  return levels_[static_cast<std::size_t>(depth)];
}

double Nuts::kinetic(const Vec& p) const {
  const Vec& m = *inv_metric_;
  double s = 0;
  for (std::size_t i = 0; i < p.size(); ++i) s += m[i] * p[i] * p[i];
  return 0.5 * s;
}

void Nuts::sample_momentum(Vec& p, RandomStream& rng) const {
  const Vec& m = *inv_metric_;
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = rng.normal() / std::sqrt(m[i]);
}

// Stan's expl_leapfrog on −log p: half kick, drift with M⁻¹, full gradient, half kick. Returns the
// kinetic energy at the end. Fused copies for the tree's leaves: the new position into q_copy, the new
// momentum into p_copies (each may be null).
double Nuts::leapfrog(Point& z, double eps, double* q_copy, double* p1, double* p2, double* p3) {
  const Vec& m = *inv_metric_;
  const double half = 0.5 * eps;
  const std::size_t n = z.q.size();
  double* q = z.q.data();
  double* p = z.p.data();
  const double* g = z.g.data();
  const double* mi = m.data();
  for (std::size_t i = 0; i < n; ++i) {
    p[i] += half * g[i];
    q[i] += eps * mi[i] * p[i];
  }
  if (q_copy) std::copy(z.q.begin(), z.q.end(), q_copy);
  z.logp = target_.evaluate(z.q.data(), z.g.data());
  double ke = 0;
  if (p1 && p2 && p3) {
    for (std::size_t i = 0; i < n; ++i) {
      const double v = p[i] + half * g[i];
      p[i] = v;
      p1[i] = v;
      p2[i] = v;
      p3[i] = v;
      ke += mi[i] * v * v;
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      p[i] += half * g[i];
      ke += mi[i] * p[i] * p[i];
    }
  }
  return 0.5 * ke;
}

// The three generalised U-turn checks of a merge of an initial and a final subtree (Stan 2.23+),
// p♯·ρ > 0 at both ends of: the merged tree (ρ = ρ_init + ρ_final), the initial tree extended by the
// final tree's first point, and the final tree extended by the initial tree's last point. Also
// writes ρ_merged = ρ_init + ρ_final. One pass over the vectors.
bool Nuts::merge_criteria(const Vec& p_beg, const Vec& p_end, const Vec& p_init_end, const Vec& p_final_beg,
                          const Vec& rho_init, const Vec& rho_final, Vec& rho_merged) const {
  const double* m = inv_metric_->data();
  double s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0;
  const std::size_t n = rho_init.size();
  for (std::size_t i = 0; i < n; ++i) {
    const double ri = rho_init[i], rf = rho_final[i], rs = ri + rf;
    const double pb = m[i] * p_beg[i], pe = m[i] * p_end[i], pie = m[i] * p_init_end[i], pfb = m[i] * p_final_beg[i];
    s1 += pe * rs;
    s2 += pb * rs;
    const double e1 = ri + p_final_beg[i];
    s3 += pfb * e1;
    s4 += pb * e1;
    const double e2 = rf + p_init_end[i];
    s5 += pe * e2;
    s6 += pie * e2;
    rho_merged[i] = rs;
  }
  return s1 > 0 && s2 > 0 && s3 > 0 && s4 > 0 && s5 > 0 && s6 > 0;
}

bool Nuts::build_tree(int depth, Point& z, Proposal& propose, Vec& p_beg, Vec& p_end, Vec& rho, double H0, int sign,
                      int& n_leapfrog, double& log_sum_weight, double& sum_metro_prob, RandomStream& rng) {
  // Every call receives a fresh ρ (its subtree's momentum sum) and sets it.
  if (depth == 0) {
    const double ke = leapfrog(z, sign * eps_, propose.q.data(), rho.data(), p_beg.data(), p_end.data());
    ++n_leapfrog;
    double h = -z.logp + ke;
    if (std::isnan(h)) h = std::numeric_limits<double>::infinity();
    if (h - H0 > options_.max_energy_error) divergent_ = true;
    log_sum_weight = log_sum_exp(log_sum_weight, H0 - h);
    sum_metro_prob += H0 - h > 0 ? 1.0 : std::exp(H0 - h);
    propose.logp = z.logp;
    propose.kinetic = ke;
    return !divergent_;
  }
  Level& lv = level(depth);
  // Initial subtree.
  double lsw_init = neg_inf;
  if (!build_tree(depth - 1, z, propose, p_beg, lv.p_init_end, lv.rho_init, H0, sign, n_leapfrog, lsw_init,
                  sum_metro_prob, rng))
    return false;
  // Final subtree.
  double lsw_final = neg_inf;
  if (!build_tree(depth - 1, z, lv.propose_final, lv.p_final_beg, p_end, lv.rho_final, H0, sign, n_leapfrog, lsw_final,
                  sum_metro_prob, rng))
    return false;
  // Multinomial sample from the right subtree.
  const double lsw_subtree = log_sum_exp(lsw_init, lsw_final);
  log_sum_weight = log_sum_exp(log_sum_weight, lsw_subtree);
  if (lsw_final > lsw_subtree) {
    std::swap(propose, lv.propose_final);
  } else {
    const double accept_prob = std::exp(lsw_final - lsw_subtree);
    if (rng.uniform() < accept_prob) std::swap(propose, lv.propose_final);
  }
  // U-turn on the merged subtree and on the two extended merges; ρ = ρ_init + ρ_final.
  return merge_criteria(p_beg, p_end, lv.p_init_end, lv.p_final_beg, lv.rho_init, lv.rho_final, rho);
}

NutsStats Nuts::transition(std::vector<double>& q, double step_size, const std::vector<double>& inv_metric,
                           RandomStream& rng) {
  inv_metric_ = &inv_metric;
  eps_ = step_size;
  divergent_ = false;
  // The start point: position, fresh momentum, gradient.
  Point& z0 = zf_;
  std::copy(q.begin(), q.end(), z0.q.begin());
  sample_momentum(z0.p, rng);
  z0.logp = target_.evaluate(z0.q.data(), z0.g.data());
  const double ke0 = kinetic(z0.p);
  const double H0 = -z0.logp + ke0;
  zb_.q = z0.q;
  zb_.p = z0.p;
  zb_.g = z0.g;
  zb_.logp = z0.logp;
  for (Vec* v : {&p_fwd_bck_, &p_fwd_fwd_, &p_bck_fwd_, &p_bck_bck_, &rho_}) *v = z0.p;
  sample_.q = z0.q;
  sample_.logp = z0.logp;
  sample_.kinetic = ke0;

  double log_sum_weight = 0;
  int n_leapfrog = 0, depth = 0;
  double sum_metro_prob = 0;
  while (depth < options_.max_depth) {
    bool valid = false;
    double lsw_subtree = neg_inf;
    if (rng.uniform() > 0.5) {
      rho_bck_ = rho_;
      p_bck_fwd_ = p_fwd_bck_;
      valid = build_tree(depth, zf_, propose_, p_fwd_bck_, p_fwd_fwd_, rho_fwd_, H0, 1, n_leapfrog, lsw_subtree,
                         sum_metro_prob, rng);
    } else {
      rho_fwd_ = rho_;
      p_fwd_bck_ = p_bck_fwd_;
      valid = build_tree(depth, zb_, propose_, p_bck_fwd_, p_bck_bck_, rho_bck_, H0, -1, n_leapfrog, lsw_subtree,
                         sum_metro_prob, rng);
    }
    if (!valid) break;
    ++depth;
    if (lsw_subtree > log_sum_weight) {
      std::swap(sample_, propose_);
    } else {
      const double accept_prob = std::exp(lsw_subtree - log_sum_weight);
      if (rng.uniform() < accept_prob) std::swap(sample_, propose_);
    }
    log_sum_weight = log_sum_exp(log_sum_weight, lsw_subtree);
    // The whole trajectory = backward part ("init") + forward part ("final").
    const bool persist = merge_criteria(p_bck_bck_, p_fwd_fwd_, p_bck_fwd_, p_fwd_bck_, rho_bck_, rho_fwd_, rho_);
    if (!persist) break;
  }
  std::copy(sample_.q.begin(), sample_.q.end(), q.begin());
  NutsStats s;
  s.step_size = step_size;
  s.tree_depth = depth;
  s.n_leapfrog = n_leapfrog;
  s.divergent = divergent_;
  s.accept_stat = n_leapfrog > 0 ? sum_metro_prob / n_leapfrog : 0.0;
  s.energy = -sample_.logp + sample_.kinetic;
  s.log_density = sample_.logp;
  return s;
}

double Nuts::find_step_size(const std::vector<double>& q, double step_size, const std::vector<double>& inv_metric,
                            RandomStream& rng) {
  inv_metric_ = &inv_metric;
  if (step_size == 0 || step_size > 1e7 || std::isnan(step_size)) return step_size;
  Point& z = zf_;
  auto trial = [&](double eps) {
    std::copy(q.begin(), q.end(), z.q.begin());
    sample_momentum(z.p, rng);
    z.logp = target_.evaluate(z.q.data(), z.g.data());
    const double H0 = -z.logp + kinetic(z.p);
    double h = -z.logp + leapfrog(z, eps, nullptr, nullptr, nullptr, nullptr);
    if (std::isnan(h)) h = std::numeric_limits<double>::infinity();
    return H0 - h;
  };
  const double log08 = std::log(0.8);
  const int direction = trial(step_size) > log08 ? 1 : -1;
  while (true) {
    const double delta_H = trial(step_size);
    if (direction == 1 && !(delta_H > log08)) break;
    if (direction == -1 && !(delta_H < log08)) break;
    step_size = direction == 1 ? 2 * step_size : step_size / 2;
    if (step_size > 1e7)
      throw NumericalError("NUTS: the step size diverged to infinity while searching a starting step size "
                           "(is the posterior improper?)");
    if (step_size == 0)
      throw NumericalError("NUTS: no acceptably small step size found (the log density or its gradient is not finite)");
  }
  return step_size;
}

}  // namespace attnpaths
