#include "attnpaths/sampler/target_choice.hpp"

#include <algorithm>
#include <cmath>

#include "attnpaths/core/index.hpp"
#include "attnpaths/kernels/renormalized_kernel.hpp"
#include "attnpaths/sampler/posterior.hpp"

namespace attnpaths {

namespace {
// Measured constants (bench_sampler, 1 thread, docs/sampling.md). Seconds per unit of work:
constexpr double c_chol = 4.3e-11;  // per P³ of Cholesky + inverse (LAPACK, level 3)
constexpr double c_pair = 8.5e-10;  // per packed path-pair kernel entry (two GEMV passes, memory-bound)
constexpr double c_ex = 6.3e-10;    // per P·r of the joint gradient's example part
constexpr double c_w = 2.2e-9;      // per sampled coordinate (forward/backward through the weights, NUTS)
// Gradients per effective draw:
constexpr double marginal_gradients = 70;  // Markov N = 10: path-weights 32/0.46, v0-marginal 63/0.88
constexpr double joint_leapfrogs_at_unit_temp = 255;  // image task, Temp = 1: tree depth 8
constexpr double joint_ess_per_draw = 0.6;             // 0.47 (Markov, Temp 0.01) – 0.72 (image, Temp 1)

std::int64_t path_weight_coordinates(const Architecture& shape) {
  const int L = shape.depth();
  std::int64_t n = shape.width(L);
  int rows = 1;
  for (int l = L; l >= 1; --l) {
    n += std::int64_t{shape.heads[sz(l - 1)]} * rows * shape.width(l - 1);
    rows *= shape.heads[sz(l - 1)];
  }
  return n;
}

// Seconds per gradient of a marginal target's kernel part (the form MarginalPosterior picks).
double marginal_kernel_seconds(std::int64_t P, int H, std::int64_t r) {
  const double p = double(P);
  if (path_pair_bytes(P, H) <= MarginalPosterior::path_pair_budget)
    return c_chol * p * p * p + c_pair * double(H) * (H + 1) / 2 * p * (p + 1) / 2;
  if (resolve_kernel_form(KernelForm::automatic, P, H, r) == KernelForm::primal)
    return c_chol * (p * p * p + 2 * p * p * double(r));
  return c_chol * 1.3 * double(r) * double(r) * double(r);
}
}  // namespace

bool path_weights_apply(const Architecture& shape) {
  const int L = shape.depth();
  int suffix = 1;
  for (int l = L; l >= 1; --l) {
    if (suffix > shape.width(l)) return false;
    suffix *= shape.heads[sz(l - 1)];
  }
  return true;
}

std::vector<TargetCost> target_costs(const Architecture& shape, std::int64_t P, double temperature, int max_depth) {
  const int H = shape.paths();
  const std::int64_t r = std::int64_t{H} * shape.input_dim;
  std::vector<TargetCost> out;
  const double leapfrogs = std::min(std::ldexp(1.0, max_depth) - 1, joint_leapfrogs_at_unit_temp / std::sqrt(temperature));
  out.push_back({"joint", shape.size(), c_ex * double(P) * double(r) + c_w * double(shape.size()),
                 (leapfrogs + 1) / joint_ess_per_draw});
  const double kernel = marginal_kernel_seconds(P, H, r);
  const std::int64_t v0 = shape.size() - shape.v0_size();
  out.push_back({"v0-marginal", v0, kernel + c_w * double(v0), marginal_gradients});
  if (path_weights_apply(shape)) {
    const std::int64_t n = path_weight_coordinates(shape);
    out.push_back({"path-weights", n, kernel + c_w * double(n), marginal_gradients});
  }
  return out;
}

std::string automatic_target(const Architecture& shape, std::int64_t P, double temperature, int max_depth) {
  const auto costs = target_costs(shape, P, temperature, max_depth);
  const TargetCost* best = &costs.front();
  for (const auto& c : costs)
    if (c.seconds_per_effective_draw() <= best->seconds_per_effective_draw()) best = &c;
  return best->target;
}

}  // namespace attnpaths
