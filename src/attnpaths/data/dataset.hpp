// The in-memory form of a dataset file (docs/files.md §1): examples sharded by rows over the ranks of a
// communicator (model/examples.hpp), plus the fixed attention weights of every layer
// (model/attention.hpp; docs/model.md §1.1–1.2).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/model/attention.hpp"
#include "attnpaths/model/examples.hpp"

namespace attnpaths {

struct Dataset {
  std::string path;       // file it was read from (empty if generated in memory)
  std::string checksum;   // of the file content (io/run_record.hpp content_checksum; empty if generated in memory)
  std::string task;
  // Root attribute `targets`: "classification" (default when absent: every y is −1 or +1, accuracy =
  // sign agreement) or "regression" (any finite y; accuracy is meaningless).
  bool regression = false;
  int tokens = 0;         // T
  int token_dim = 0;      // N0
  ExampleSet train, test;
  std::optional<ExampleSet> validation;
  std::vector<ExampleSet> ood;
  AttentionSpec attention;

  // Every example set that the predictor is evaluated on: test, then validation, then each OOD set.
  std::vector<const ExampleSet*> evaluation_sets() const;
};

}  // namespace attnpaths
