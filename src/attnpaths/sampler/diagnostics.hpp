// MCMC convergence diagnostics of Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), "Rank-
// normalization, folding, and localization: an improved R̂", as implemented by Stan and ArviZ:
// every function takes the draws of one scalar observable as chains[c][s] (equal lengths).
#pragma once

#include <vector>

namespace attnpaths::diagnostics {

using Draws = std::vector<std::vector<double>>;  // [chain][draw]

// Classic R̂ of the given chains (no splitting): sqrt((B/W + n − 1)/n), B = n·var(chain means).
double rhat_basic(const Draws& chains);
// Rank-normalised split-R̂: max of the bulk (rank-normalised split chains) and tail (folded around
// the median) values (ArviZ rhat(method="rank")).
double rhat(const Draws& chains);
// ESS of the chains as given, Geyer's initial monotone sequence on the multi-chain autocorrelation.
double ess_basic(const Draws& chains);
// Bulk ESS: ESS of the rank-normalised split chains.
double ess_bulk(const Draws& chains);
// Tail ESS: min of the ESS of the split-chain indicators I(θ ≤ q5%) and I(θ ≤ q95%).
double ess_tail(const Draws& chains);
// ESS for the mean (split chains, no rank normalisation) and the Monte Carlo standard error of the mean.
double ess_mean(const Draws& chains);
double mcse_mean(const Draws& chains);
// Energy Bayesian fraction of missing information of one chain's energies.
double ebfmi(const std::vector<double>& energy);

// Helpers (exposed for tests).
Draws split_chains(const Draws& chains);
Draws rank_normalise(const Draws& chains);  // z = Φ⁻¹((r − 3/8)/(S + 1/4)), average ranks for ties
double normal_quantile(double p);           // Φ⁻¹
double quantile(std::vector<double> values, double p);  // linear interpolation (numpy default)

}  // namespace attnpaths::diagnostics
