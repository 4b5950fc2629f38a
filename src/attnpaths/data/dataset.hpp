// The in-memory form of a dataset file (docs/files.md §1): examples sharded by rows over the ranks of a
// communicator, plus the fixed attention weights of every layer (docs/model.md §1.1–1.2).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"

namespace attnpaths {

enum class AttentionStyle { w, qk };
enum class Nonlinearity { softmax, hardmax };
enum class Readout { last_token, first_token, mean };

std::string to_string(AttentionStyle s);
std::string to_string(Nonlinearity n);
std::string to_string(Readout r);
// Parse from the file/option spelling; throw InputError naming `where` for unknown values.
AttentionStyle parse_attention_style(const std::string& s, const std::string& where);
Nonlinearity parse_nonlinearity(const std::string& s, const std::string& where);
Readout parse_readout(const std::string& s, const std::string& where);

// Fixed query/key weights of one attention layer (all H_l heads).
struct AttentionLayer {
  AttentionStyle style = AttentionStyle::w;
  int heads = 0;               // H_l
  int qk_dim = 0;              // G (style qk only)
  std::vector<double> w;       // style w:  [H_l, N0, N0], score A[s,t] = x_s^T W x_t
  std::vector<double> q, k;    // style qk: [H_l, G, N0],  score A[s,t] = (K x_s)·(Q x_t)/sqrt(G)
};

struct AttentionSpec {
  Readout readout = Readout::last_token;
  Nonlinearity nonlinearity = Nonlinearity::softmax;
  std::vector<AttentionLayer> layers;     // l = 1..L (index 0 is layer 1)
  std::vector<std::string> path_labels;   // length H_tot; defaults to "h1.h2..." when absent

  int depth() const { return static_cast<int>(layers.size()); }  // L
  std::vector<int> heads() const;                                 // H_l, l = 1..L
  int paths() const;                                              // H_tot = Π_l H_l
  // Head of layer l (0-based) on path pi (row-major, layer 1 slowest; docs/model.md §1.3).
  int head_on_path(int pi, int layer) const;
  // Labels "0.0", "0.1", ... (head index per layer) used when the file has none.
  std::vector<std::string> default_path_labels() const;
};

// One set of examples with its rows sharded over the ranks.
struct ExampleSet {
  std::string name;        // "train", "test", "validation" or "ood/<name>"
  std::int64_t count = 0;  // global number of examples
  Range local;             // rows owned by this rank
  std::vector<double> x;   // [local.size(), T, N0]: x[(mu*T + s)*N0 + i] is feature i of token s
  std::vector<double> y;   // [local.size()]
};

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
