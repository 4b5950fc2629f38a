#include "attnpaths/io/file_notes.hpp"

#include <fmt/format.h>

#include <string>

namespace attnpaths {
namespace {

const std::string kT = "/theory/temperatures", kW = "/theory/widths", kPaths = "#paths";

// The predictor statistics of one example set of the theory file (docs/model.md §3.6).
void add_predictor_notes(std::vector<h5::DatasetNote>& notes, const std::string& group, const std::string& examples,
                         const std::string& set) {
  for (const char* v : {"theory", "theory_diagonal"}) {
    const std::string which = std::string(v) == "theory" ? "the theory's U_1" : "the diagonal of the theory's U_1";
    notes.push_back({group + "/" + v + "/mean", "predictor mean on the " + set + " examples with " + which +
                                                    " [temperature, width, example]", {kT, kW, examples}});
    notes.push_back({group + "/" + v + "/var", "predictor variance (of f, no Temp) on the " + set +
                                                   " examples with " + which + " [temperature, width, example]",
                     {kT, kW, examples}});
    notes.push_back({group + "/" + v + "/accuracy", "fraction of " + set + " examples with sign(mean) = y, " + which +
                                                        " [temperature, width]", {kT, kW}});
    notes.push_back({group + "/" + v + "/bias", "mean (mean - y)^2 over the " + set + " examples, " + which +
                                                    " [temperature, width]", {kT, kW}});
    notes.push_back({group + "/" + v + "/variance", "mean predictor variance over the " + set + " examples, " + which +
                                                        " [temperature, width]", {kT, kW}});
  }
  const std::string gp = "the GP (infinite width, U_1 = sigma_a^2 prod sigma_l^2 I)";
  notes.push_back({group + "/gp/mean", "predictor mean on the " + set + " examples, " + gp + " [temperature, example]",
                   {kT, examples}});
  notes.push_back({group + "/gp/var", "predictor variance on the " + set + " examples, " + gp +
                                          " [temperature, example]", {kT, examples}});
  notes.push_back({group + "/gp/accuracy", "fraction of " + set + " examples with sign(mean) = y, " + gp +
                                               " [temperature]", {kT}});
  notes.push_back({group + "/gp/bias", "mean (mean - y)^2, " + gp + " [temperature]", {kT}});
  notes.push_back({group + "/gp/variance", "mean predictor variance, " + gp + " [temperature]", {kT}});
}

}  // namespace

std::vector<h5::DatasetNote> theory_file_notes(int layers) {
  std::vector<h5::DatasetNote> n = {
      {kW, "network widths N (every hidden layer)"},
      {kT, "temperatures Temp of the posterior"},
      {"/theory/U1", "path-path order parameter U_1, symmetric positive definite [temperature, width, path, path]",
       {kT, kW, kPaths, kPaths}},
      {"/theory/Ua", "readout order parameter U_a (closed form) [temperature, width]", {kT, kW}},
      {"/theory/action", "action S = (E + S_ent) / max_l w_l at the minimum [temperature, width]", {kT, kW}},
      {"/theory/energy", "energy E = log det K_T + y K_T^-1 y, divided by max_l w_l [temperature, width]", {kT, kW}},
      {"/theory/entropy", "entropy S_ent, divided by max_l w_l [temperature, width]", {kT, kW}},
      {"/theory/grad_max", "max |dS/dU| at the reported point [temperature, width]", {kT, kW}},
      {"/theory/converged", "1 = the stopping rule max|dS/dU| < grad_tol was met [temperature, width]", {kT, kW}},
      {"/theory/iterations", "descent iterations (Newton or quasi-Newton: config minimiser_resolved) until the stopping rule [temperature, width]", {kT, kW}},
      {"/theory/newton_steps", "Newton polishing steps [temperature, width]", {kT, kW}},
      {"/theory/evaluations", "action evaluations [temperature, width]", {kT, kW}},
      {"/theory/seconds", "wall seconds of the minimisation [temperature, width]", {kT, kW}},
      {"/baselines/*/mean", "GP predictor mean of the baseline dataset '{1}' on its test examples "
                            "[temperature, example]", {kT, "#baseline_{1}_examples"}},
      {"/baselines/*/var", "GP predictor variance of the baseline '{1}' [temperature, example]",
       {kT, "#baseline_{1}_examples"}},
      {"/baselines/*/accuracy", "GP test accuracy of the baseline '{1}' [temperature]", {kT}},
      {"/baselines/*/bias", "GP mean (mean - y)^2 of the baseline '{1}' [temperature]", {kT}},
      {"/baselines/*/variance", "GP mean predictor variance of the baseline '{1}' [temperature]", {kT}},
      {"/alignment/gp", "|v_k . y| / sqrt(P), v_k the eigenvectors of the GP train kernel by decreasing eigenvalue "
                        "[temperature, component]", {kT, "#components"}},
      {"/alignment/theory", "|v_k . y| / sqrt(P) for the renormalised kernel K(U_1) [temperature, width, component]",
       {kT, kW, "#components"}},
      {"/kernels/subset", "training examples kept for the kernel figures, class y > 0 first"},
      {"/kernels/labels", "targets y of the kernel subset [example]", {"/kernels/subset"}},
      {"/kernels/path", "diagonal path kernels C_pp on the subset [path, example, example]",
       {kPaths, "/kernels/subset", "/kernels/subset"}},
      {"/kernels/gp", "GP kernel on the subset, no Temp [example, example]", {"/kernels/subset", "/kernels/subset"}},
      {"/kernels/renormalized", "renormalised kernel K(U_1) on the subset, no Temp [temperature, width, example, "
                                "example]", {kT, kW, "/kernels/subset", "/kernels/subset"}},
      {"/progress/gp", "1 = the GP of this temperature is done (for --resume) [temperature]", {kT}},
      {"/progress/theory", "1 = this grid point is done (for --resume) [temperature, width]", {kT, kW}},
  };
  for (int l = 2; l <= layers; ++l)
    n.push_back({fmt::format("/theory/U{}", l),
                 fmt::format("order parameter U_{} over the heads of layers {}..L (layer {} slowest) "
                             "[temperature, width, ., .]", l, l, l), {kT, kW}});
  add_predictor_notes(n, "/predictor", "#test_examples", "test");
  add_predictor_notes(n, "/predictor/validation", "#validation_examples", "validation");
  add_predictor_notes(n, "/predictor/ood/*", "#ood_{1}_examples", "out-of-distribution '{1}'");
  for (const char* set : {"validation", "ood/*"}) {
    const std::string b = std::string("/baselines/*/") + set, which = std::string(set) == "validation" ? "validation" : "out-of-distribution '{2}'";
    n.push_back({b + "/mean", "GP predictor mean of the baseline '{1}' on its " + which + " examples [temperature, example]", {kT, ""}});
    n.push_back({b + "/var", "GP predictor variance of the baseline '{1}' on its " + which + " examples [temperature, example]", {kT, ""}});
    n.push_back({b + "/accuracy", "GP " + which + " accuracy of the baseline '{1}' [temperature]", {kT}});
    n.push_back({b + "/bias", "GP mean (mean - y)^2 of the baseline '{1}' on its " + which + " examples [temperature]", {kT}});
    n.push_back({b + "/variance", "GP mean predictor variance of the baseline '{1}' on its " + which + " examples [temperature]", {kT}});
  }
  const auto selection = selection_file_notes();
  n.insert(n.end(), selection.begin(), selection.end());
  return n;
}

std::vector<h5::DatasetNote> selection_file_notes() {
  const std::string T = "/selection/temperatures", W = "/selection/widths";
  std::vector<h5::DatasetNote> n = {
      {T, "every temperature Temp of the theory grid(s) the selection chose from, ascending"},
      {W, "network widths N"},
      {"/selection/theory/temperature", "the Temp with the best validation accuracy of the theory predictor at "
                                        "each width (ties: the lowest) [width]", {W}},
      {"/selection/theory/temperature_index", "index of that Temp in /selection/temperatures (-1: none) [width]", {W}},
      {"/selection/theory/validation_accuracy", "validation accuracy of the theory at the chosen Temp [width]", {W}},
      {"/selection/theory/converged", "1 = the chosen grid point met the stopping rule [width]", {W}},
      {"/selection/theory/accuracy/test", "test accuracy of the theory at the chosen Temp [width]", {W}},
      {"/selection/theory/accuracy/ood/*", "accuracy on the out-of-distribution set '{1}' of the theory at the "
                                           "chosen Temp [width]", {W}},
  };
  for (const std::string g : {"/selection/gp", "/selection/baselines/*"}) {
    const std::string who = g == "/selection/gp" ? "the GP" : "the GP baseline '{1}'";
    const std::string set = g == "/selection/gp" ? "{1}" : "{2}";
    n.push_back({g + "/temperature", "the Temp with the best validation accuracy of " + who + " (ties: the lowest) [1]"});
    n.push_back({g + "/temperature_index", "index of that Temp in /selection/temperatures [1]"});
    n.push_back({g + "/validation_accuracy", "validation accuracy of " + who + " at that Temp [1]"});
    n.push_back({g + "/accuracy/test", "test accuracy of " + who + " at that Temp [1]"});
    n.push_back({g + "/accuracy/ood/*", "accuracy on the out-of-distribution set '" + set + "' of " + who +
                                            " at that Temp [1]"});
  }
  return n;
}

std::vector<h5::DatasetNote> samples_file_notes() {
  const std::string C = "#chains", S = "#draws";
  std::vector<h5::DatasetNote> n = {
      {"/samples/U1", "order parameter U^s = W_p . W_p' / w0 of every draw [chain, draw, path, path]",
       {C, S, kPaths, kPaths}},
      {"/samples/f_test", "network output f(x*) on the test examples, every thin-th draw [chain, draw/thin, example]",
       {C, "#thinned_draws", "#test_examples"}},
      {"/samples/stats/step_size", "NUTS step size [chain, draw]", {C, S}},
      {"/samples/stats/energy", "Hamiltonian energy [chain, draw]", {C, S}},
      {"/samples/stats/accept_stat", "NUTS acceptance statistic [chain, draw]", {C, S}},
      {"/samples/stats/log_density", "log posterior density (up to a constant) [chain, draw]", {C, S}},
      {"/samples/stats/tree_depth", "NUTS tree depth [chain, draw]", {C, S}},
      {"/samples/stats/n_leapfrog", "leapfrog steps [chain, draw]", {C, S}},
      {"/samples/stats/divergent", "1 = divergent transition [chain, draw]", {C, S}},
      {"/sampled/U1/mean", "mean of U^s over every draw of every chain [path, path]", {kPaths, kPaths}},
      {"/sampled/U1/mcse", "Monte Carlo standard error of that mean [path, path]", {kPaths, kPaths}},
      {"/sampled/predictor/mean", "sampled predictor mean on the test examples [example]", {"#test_examples"}},
      {"/sampled/predictor/var", "unbiased variance over draws of f on the test examples [example]",
       {"#test_examples"}},
      {"/sampled/predictor/accuracy", "fraction of test examples with sign(sampled mean) = y"},
      {"/sampled/predictor/bias", "mean (sampled mean - y)^2 over the test examples"},
      {"/sampled/predictor/variance", "mean sampled variance over the test examples"},
      {"/diagnostics/U1/*", "{1} of each entry of U^s (rank-normalised, Vehtari et al. 2021) [path, path]",
       {kPaths, kPaths}},
      {"/diagnostics/predictor/*", "{1} of f on each test example [example]", {"#test_examples"}},
      {"/diagnostics/chains/*", "{1} of each chain (after warm-up) [chain]", {C}},
      {"/checkpoint/*/*", "resume state ({2}) of every chain in checkpoint {1}: internal to --resume [chain, .]",
       {C}},
  };
  return n;
}

std::vector<h5::DatasetNote> compare_file_notes() {
  const std::string R = "/compare/widths";
  return {
      {R, "width N of each compared samples file (one row per file)"},
      {"/compare/temperatures", "temperature of each row [row]", {R}},
      {"/compare/accuracy/theory", "theory test accuracy at the row's width and temperature [row]", {R}},
      {"/compare/accuracy/sampled", "test accuracy of the sampled predictor mean [row]", {R}},
      {"/compare/accuracy/gp", "GP test accuracy at the row's temperature [row]", {R}},
      {"/compare/U1/theory", "theory U_1 [row, path, path]", {R, kPaths, kPaths}},
      {"/compare/U1/sampled", "sampled mean of U^s [row, path, path]", {R, kPaths, kPaths}},
      {"/compare/U1/mcse", "Monte Carlo standard error of the sampled mean [row, path, path]", {R, kPaths, kPaths}},
      {"/compare/predictor/mean_correlation", "Pearson correlation of the theory and sampled predictor means over "
                                              "the test examples [row]", {R}},
      {"/compare/predictor/variance_ratio", "sum of sampled variances / sum of theory variances [row]", {R}},
      {"/compare/diagnostics_passed", "1 if the samples passed every sampler diagnostic (R-hat, ESS, divergences, "
                                      "tree depth, E-BFMI), else 0 [row]", {R}},
      {"/compare/theory_converged", "1 if the theory point met its stopping rule, else 0 [row]", {R}},
      {"/compare/rhat/*", "largest R-hat of the sampler's {1} [row]", {R}},
  };
}

}  // namespace attnpaths

namespace attnpaths {

namespace {

// The pruning results of one side and set (docs/files.md §6); `g` = "/pruning/*/*" or "/pruning/*/ood/*",
// `set` names the set's wildcard.
void add_pruning_notes(std::vector<h5::DatasetNote>& n, const std::string& g, const std::string& set) {
  const std::vector<std::string> LH = {"/heads/layer", "/heads/head"}, K = {"/pruning/removed"};
  const std::string on = " (side {1}, set " + set + ")";
  n.push_back({g + "/full", "accuracy with no head removed" + on});
  n.push_back({g + "/full_loss", "mean (prediction - y)^2 with no head removed" + on});
  n.push_back({g + "/count", "number of examples of the set" + on});
  n.push_back({g + "/single", "accuracy with only this head removed, NaN where it cannot be removed" + on + " [layer, head]", LH});
  n.push_back({g + "/single_loss", "mean (prediction - y)^2 with only this head removed" + on + " [layer, head]", LH});
  n.push_back({g + "/drop", "full - single: accuracy lost by removing this head alone" + on + " [layer, head]", LH});
  n.push_back({g + "/spearman", "Spearman rank correlation of /heads/score and drop over the removable heads" + on});
  n.push_back({g + "/ascending", "accuracy with the first k heads of /pruning/ascending_heads removed" + on + " [k]", K});
  n.push_back({g + "/descending", "accuracy with the first k heads of /pruning/descending_heads removed" + on + " [k]", K});
  n.push_back({g + "/random", "accuracy with the first k heads of each random order removed" + on + " [order, k]",
               {"#orders", K[0]}});
  for (const char* stat : {"mean", "std", "min", "max"})
    n.push_back({g + "/random_" + stat, std::string(stat) + " over the random orders of the accuracy" +
                                            (std::string(stat) == "std" ? " (n - 1 denominator)" : "") + on + " [k]", K});
}

}  // namespace

std::vector<h5::DatasetNote> prune_file_notes() {
  std::vector<h5::DatasetNote> n = {
      {"/heads/layer", "layer index l of the head axes (1 = first attention layer)"},
      {"/heads/head", "head index h within a layer (from 0)"},
      {"/heads/score", "head score: sum of |U_1| (symmetrised) over the path pairs through the head, divided by the "
                       "largest score; NaN for a padding entry [layer, head]", {"/heads/layer", "/heads/head"}},
      {"/heads/score_raw", "head score before normalisation [layer, head]", {"/heads/layer", "/heads/head"}},
      {"/heads/order", "every head (layer, head) by ascending score [rank, (layer, head)]", {"#rank", ""}},
      {"/pruning/removed", "number of heads removed k (progressive pruning)"},
      {"/pruning/ascending_heads", "the k-th head removed in ascending score order, (layer, head); heads that would "
                                   "empty their layer are skipped [k, (layer, head)]", {"#steps", ""}},
      {"/pruning/descending_heads", "the k-th head removed in descending score order [k, (layer, head)]", {"#steps", ""}},
      {"/pruning/random_heads", "the k-th head removed in each random order [order, k, (layer, head)]",
       {"#orders", "#steps", ""}},
      {"/theory/U1", "the theory's order parameter U_1 at the chosen width and temperature [path, path]",
       {kPaths, kPaths}},
      {"/gd/U1", "GD order parameter U^GD = W_p . W_p', W_p = a^T V_L^{h_L} ... V_1^{h_1} of the trained network "
                 "[path, path]", {kPaths, kPaths}},
      {"/gd/U1_normalised", "U^GD divided by its largest absolute entry [path, path]", {kPaths, kPaths}},
  };
  add_pruning_notes(n, "/pruning/*/ood/*", "ood/{2}");
  add_pruning_notes(n, "/pruning/*/*", "{2}");
  return n;
}

}  // namespace attnpaths
