// One run of `attnpaths robustness` (docs/robustness.md): Lipschitz bounds and empirical constants
// of every head and path, then the predictor on perturbed test inputs:
//   load dataset + theory file → radius R → bounds → empirical constants → path inputs Ξ →
//   for the GP and each chosen width: factor K(U_1) → mean-predictor weights → for each
//   perturbation and ε: perturbed test set → path inputs → predictor statistics → write.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/config.hpp"
#include "attnpaths/robustness/empirical.hpp"

namespace attnpaths {

struct RobustnessOptions {
  std::string data;                     // dataset file (docs/files.md §1)
  std::string theory;                   // theory result of that dataset (docs/files.md §2)
  std::string output;
  bool overwrite = false;  // replace a complete output
  std::vector<std::int64_t> widths;     // widths of the theory grid to use (empty: all)
  double temperature = 0;               // temperature of the theory grid (0: its first)
  std::vector<double> epsilons{0, 0.1, 0.2, 0.5, 1.0};
  std::vector<std::string> perturbations{"gaussian", "replace", "adversarial"};
  std::int64_t test_examples = 0;       // test examples (spread evenly over the set) for the curves (0: all)
  int adversarial_steps = 5;
  EmpiricalOptions lipschitz;
  std::uint64_t seed = 1;

  // Throws UsageError for missing options, InputError for bad values.
  void validate() const;
  Config to_config() const;
};

class RobustnessRun {
 public:
  RobustnessRun(RobustnessOptions options, const Comm& comm, std::vector<std::string> command_line);
  void run();

 private:
  RobustnessOptions options_;
  const Comm& comm_;
  std::vector<std::string> command_line_;
};

}  // namespace attnpaths
