// One-shot image episodes (docs/data.md, "Omniglot and MNIST episodes"): images → tokens, and the
// 2-way 1-shot episodes built from them. An episode is [support A (16 tokens), support B (16),
// query (16)] = T = 48 tokens of dimension N0 = 192.
//
// This header is the contract between the `data omniglot` command (which writes the episode sets and
// the training image bank into a dataset file) and `train` (which draws its own episodes on the fly
// from that bank). Everything random is drawn from counter-based streams keyed by (seed, episode
// index), so an episode never depends on the rank count or on which rank builds it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/rng.hpp"

namespace attnpaths::h5 {
class File;
}

namespace attnpaths {

// Random streams of the one-shot image episodes (core/rng.hpp).
namespace rng_domain {
inline constexpr RngDomain episode{20};             // classes, drawings, labels, query of each episode
inline constexpr RngDomain label_embedding{21};     // the label vectors e_0, e_1, e_2
}  // namespace rng_domain

namespace episode {
constexpr int image_side = 32;        // images are resized to 32×32
constexpr int patch_side = 8;         // 8×8 patches, row-major over the 4×4 grid
constexpr int tokens_per_image = 16;  // (32/8)²
constexpr int channels = 3;           // the grey value replicated to 3 identical channels
constexpr int token_dim = 192;        // 8·8·3 = N0
constexpr int tokens = 48;            // 3 images per episode = T
}  // namespace episode

// (v − mean)/std applied to the uint8/255 grey values before patching.
struct Normalisation {
  double mean = 0.922;  // Omniglot; MNIST uses (0.1307, 0.3081)
  double std = 0.084;
};

// Resized 32×32 uint8 images (ink = 255, background = 0), grouped by class.
struct ImageBank {
  std::vector<std::uint8_t> pixels;  // [n, 32, 32]
  std::vector<std::int32_t> label;   // [n] class index, 0..classes-1
  std::vector<std::string> source;   // [n] zip member path or "<idx file>#<index>"
  Normalisation normalisation;
  int classes = 0;

  std::int64_t size() const { return static_cast<std::int64_t>(label.size()); }
};

// The additive codes of every episode token: the z-scored sinusoidal positional code and the three
// seeded label vectors e_0, e_1 (supports) and e_2 (query).
struct EpisodeEmbedding {
  std::vector<double> positional;  // [48, 192]
  std::vector<double> label;       // [3, 192]
  std::uint64_t label_seed = 0;

  static EpisodeEmbedding make(std::uint64_t label_seed);
};

// One image → its 16 tokens of 192: normalise, 3 channels, 8×8 patches with interleaved channels
// (index (p1·8 + p2)·3 + c), LayerNorm over each patch (biased variance, eps 1e-5, no affine).
void tokenise_image(const std::uint8_t* image32, const Normalisation& n, double* tokens /*[16,192]*/);

// Which bank images fill the three slots, and the support labels.
struct Episode {
  std::int64_t support[2] = {0, 0};  // bank indices of support A (slot 0) and support B (slot 1)
  std::int64_t query = 0;            // bank index of the query (slot 2)
  int support_label[2] = {0, 1};     // label (0/1) given to support A and B: a random permutation
  double y = 0.0;                    // +1 if the query's class is that of the support labelled 1, else −1
};

// The token matrix x [48, 192] of an episode: tokenised images plus positional and label codes.
void episode_tokens(const ImageBank& bank, const Episode& e, const EpisodeEmbedding& emb, double* x);

// Draws random 2-way 1-shot episodes from a bank: two distinct classes, one drawing of each as the
// supports, a different drawing of one of them (chosen at random) as the query. Episode `index` of
// stream `seed` is always the same episode. `target` forces y (for balanced sets); 0 = random.
//
// Episode `index` is drawn from the counter-based stream (seed, rng_domain::episode,
// stream·2^48 + index), in this order: class of slot A, class of slot B (distinct), drawing of A,
// drawing of B, label permutation, query slot (only when target = 0), query drawing (a drawing of
// the query slot's class other than its support). `stream` separates independent episode streams of
// one seed: `data omniglot` uses 1 (train), 2 (validation), 3 (test); 0 (the default) is free for
// on-the-fly training episodes. Needs >= 2 classes with >= 2 drawings each (InputError otherwise).
class EpisodeSampler {
 public:
  EpisodeSampler(const ImageBank& bank, std::uint64_t seed, std::uint64_t stream = 0);
  Episode draw(std::uint64_t index, double target = 0.0) const;

 private:
  const ImageBank* bank_;
  std::uint64_t seed_;
  std::uint64_t stream_ = 0;
  std::vector<std::vector<std::int64_t>> by_class_;  // bank indices of each class
};

// The training image bank and embedding stored in a dataset file written by `data omniglot`
// (/bank/train, /embedding). Collective over `comm`; every rank gets the whole bank.
struct EpisodeSource {
  ImageBank bank;
  EpisodeEmbedding embedding;
};
// Validates shapes, label range and the stored normalisation; InputError naming the file otherwise.
EpisodeSource read_episode_source(const std::string& dataset_path, const Comm& comm);

// Writers of what read_episode_source reads (collective; rank 0 writes), used by `data omniglot`:
// <group>/{images [n,32,32] uint8, label [n] int32, source [n] strings} with attributes classes,
// normalisation_mean, normalisation_std; and /embedding/{positional [48,192], label [3,192]} with
// attribute label_seed.
void write_image_bank(const h5::File& file, const std::string& group, const ImageBank& bank);
void write_episode_embedding(const h5::File& file, const EpisodeEmbedding& emb);

}  // namespace attnpaths
