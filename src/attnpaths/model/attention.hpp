// Attention of the paper's network (docs/model.md §1.1–1.2): fixed query/key weights, scores from the
// RAW input x of every layer (never from z^{l-1}), softmax (or hardmax) over the key index s.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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
  // The path labels: the file's, else the default ones.
  std::vector<std::string> labels() const { return path_labels.empty() ? default_path_labels() : path_labels; }
};

// Ω^{l,h}(x) for one example x [T, N0] (row s = token s): omega[s*T + t] = softmax_s A[s,t]
// (key s, query t; every column t sums to 1). Hardmax: one-hot at the first arg-max over s.
void attention_matrix(const AttentionLayer& layer, int head, Nonlinearity nonlinearity, const double* x, int T,
                      int N0, double* omega);

// Readout vector of the last layer (docs/model.md §1.2) from its attention matrix: omega_vec[s].
void readout_vector(Readout readout, const double* omega, int T, double* omega_vec);

// Batched forms over `examples` consecutive examples x [examples, T, N0] (one BLAS-3 product per
// head for the whole block, then small per-example work).
//   attention_matrices: omega [examples, T, T], as attention_matrix for each example.
//   readout_vectors:    omega_vec [examples, T], the readout vector of head `head` of a LAST layer;
//                       for last_token / first_token only the one query column is scored.
void attention_matrices(const AttentionLayer& layer, int head, Nonlinearity nonlinearity, const double* x,
                        std::int64_t examples, int T, int N0, double* omega);
void readout_vectors(const AttentionLayer& layer, int head, Nonlinearity nonlinearity, Readout readout,
                     const double* x, std::int64_t examples, int T, int N0, double* omega_vec);

// The batched forms' products X·W (resp. X·K^T, X·Q^T), kept between calls: a caller that computes
// block after block of the same size passes the same scratch, and no block allocates or zero-fills it.
struct AttentionScratch {
  std::vector<double> left, right;
};
void attention_matrices(const AttentionLayer& layer, int head, Nonlinearity nonlinearity, const double* x,
                        std::int64_t examples, int T, int N0, double* omega, AttentionScratch& scratch);
void readout_vectors(const AttentionLayer& layer, int head, Nonlinearity nonlinearity, Readout readout,
                     const double* x, std::int64_t examples, int T, int N0, double* omega_vec,
                     AttentionScratch& scratch);

// The attention of a block of nb examples x [nb, T, N0]: full Ω^{l,h} [nb, T, T] for the layers l < L
// and the readout vectors ω^{L,h} [nb, T] of the last layer (nb = 1: one example).
// Reusing one BlockAttention for blocks of the same size reuses its memory.
struct BlockAttention {
  std::vector<std::vector<std::vector<double>>> full;  // [l][h][(mu*T + s)*T + t], l = 0..L-2
  std::vector<std::vector<double>> last;               // [h][mu*T + s]
  AttentionScratch scratch;                            // workspace of compute

  void compute(const AttentionSpec& attention, const double* x, std::int64_t nb, int T, int N0);
};

}  // namespace attnpaths
