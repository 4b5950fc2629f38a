// The network's inputs: one set of examples x (T tokens of N0 features each) with targets y, rows
// sharded over the ranks of a communicator. Read from or written to dataset files by data/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnpaths/core/buffer.hpp"
#include "attnpaths/core/comm.hpp"

namespace attnpaths {

// One set of examples with its rows sharded over the ranks.
struct ExampleSet {
  std::string name;        // "train", "test", "validation" or "ood/<name>"
  std::int64_t count = 0;  // global number of examples
  Range local;             // rows owned by this rank
  Buffer<double> x;        // [local.size(), T, N0]: x[(mu*T + s)*N0 + i] is feature i of token s
  std::vector<double> y;   // [local.size()]
};

}  // namespace attnpaths
