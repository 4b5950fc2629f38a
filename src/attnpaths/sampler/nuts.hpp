// The No-U-Turn sampler, multinomial variant, as in Stan (stan/mcmc/hmc/nuts/base_nuts.hpp, 2.23+):
// the trajectory doubles forward or backward at random; each new subtree is built recursively with a
// multinomial (biased-progressive at the top level) choice of the proposal; a U-turn is checked with
// the generalised criterion p♯·ρ > 0 on every subtree and on the two extended merges; a leapfrog step
// whose energy error exceeds `max_energy_error` (1000) is a divergence and ends the tree. Diagonal
// Euclidean metric: kinetic energy ½ pᵀ M⁻¹ p, p ~ N(0, M).
//
// Memory: the proposals hold positions only (no gradients); the gradient of the chosen draw is
// recomputed at the start of the next transition (one extra evaluation per transition).
#pragma once

#include <cstdint>
#include <vector>

#include "attnpaths/core/rng.hpp"
#include "attnpaths/sampler/posterior.hpp"

namespace attnpaths {

struct NutsOptions {
  int max_depth = 10;
  double max_energy_error = 1000;
};

// Per-iteration statistics (Stan's sampler params).
struct NutsStats {
  double step_size = 0;
  int tree_depth = 0;
  int n_leapfrog = 0;
  bool divergent = false;
  double energy = 0;       // Hamiltonian at the draw
  double accept_stat = 0;  // mean Metropolis acceptance over the tree's leapfrog steps
  double log_density = 0;  // at the draw
};

class Nuts {
 public:
  Nuts(LogDensity& target, NutsOptions options);
  // One transition from q (replaced by the draw).
  NutsStats transition(std::vector<double>& q, double step_size, const std::vector<double>& inv_metric,
                       RandomStream& rng);
  // Stan's init_stepsize: doubles or halves the step until one leapfrog step's acceptance crosses 0.8.
  double find_step_size(const std::vector<double>& q, double step_size, const std::vector<double>& inv_metric,
                        RandomStream& rng);
  const NutsOptions& options() const { return options_; }

 private:
  struct Point {
    std::vector<double> q, p, g;
    double logp = 0;
  };
  struct Proposal {
    std::vector<double> q;
    double logp = 0, kinetic = 0;
  };
  struct Level {
    Proposal propose_final;
    std::vector<double> p_init_end, p_final_beg, rho_init, rho_final;
  };
  using Vec = std::vector<double>;

  double kinetic(const Vec& p) const;
  void sample_momentum(Vec& p, RandomStream& rng) const;
  double leapfrog(Point& z, double eps, double* q_copy, double* p1, double* p2, double* p3);
  bool merge_criteria(const Vec& p_beg, const Vec& p_end, const Vec& p_init_end, const Vec& p_final_beg,
                      const Vec& rho_init, const Vec& rho_final, Vec& rho_merged) const;
  bool build_tree(int depth, Point& z, Proposal& propose, Vec& p_beg, Vec& p_end, Vec& rho, double H0, int sign,
                  int& n_leapfrog, double& log_sum_weight, double& sum_metro_prob, RandomStream& rng);
  Level& level(int depth);

  LogDensity& target_;
  NutsOptions options_;
  std::int64_t n_ = 0;
  const Vec* inv_metric_ = nullptr;
  double eps_ = 0;
  bool divergent_ = false;
  Point zf_, zb_;
  Proposal sample_, propose_;
  Vec p_fwd_bck_, p_fwd_fwd_, p_bck_fwd_, p_bck_bck_, rho_, rho_fwd_, rho_bck_;
  std::vector<Level> levels_;
};

}  // namespace attnpaths
