// The one-shot image task (docs/data.md, "Omniglot and MNIST episodes"): image banks from the
// Omniglot zips and the MNIST IDX files, the balanced episode sets, the placeholder attention, and
// the dataset file `attnpaths data omniglot` writes.
//
// Splits: training classes = every character of the --background zips (a relative path
// <alphabet>/<character>/<image>.png present in several zips is one image) minus the
// --validation-alphabets; validation = those alphabets; test = the --evaluation zips (one-shot runs
// with class_labels.txt: each line pairs two drawings of one class; or the background layout).
// Episode i of a set is EpisodeSampler(bank, seed, stream).draw(i, ±1) with y = +1 for even i and
// −1 for odd i, so every set of even size is exactly balanced and every prefix nearly so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/core/config.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset.hpp"
#include "attnpaths/data/episodes.hpp"
#include "attnpaths/io/run_record.hpp"

namespace attnpaths {

// Random streams of `data omniglot` (core/rng.hpp).
namespace rng_domain {
inline constexpr RngDomain attention_init{22};      // the placeholder "qk" heads written by `data omniglot`
}  // namespace rng_domain

struct OmniglotOptions {
  std::vector<std::string> background;  // zips of <top>/<alphabet>/<character>/<image>.png
  std::vector<std::string> evaluation;  // test classes: one-shot runs zip(s), or the background layout
  std::vector<std::string> validation_alphabets{"Early_Aramaic"};
  std::string ood_images, ood_labels;   // IDX files (gzip'd or not); empty = no OOD set
  std::string ood_name = "mnist";
  std::vector<std::int64_t> ood_classes{0, 1};  // [class of label 0 (y = −1), class of label 1 (y = +1)]
  std::int64_t train_examples = 600;       // P (even)
  std::int64_t validation_examples = 1000; // even; 0 = no /validation
  std::int64_t test_examples = 1000;       // Q (even)
  std::int64_t ood_examples = 1000;        // even; 0 = no OOD set
  std::vector<double> normalisation{0.922, 0.084};       // (mean, std) of Omniglot
  std::vector<double> ood_normalisation{0.1307, 0.3081}; // (mean, std) of MNIST
  std::int64_t seed = 1;            // episode streams
  std::int64_t embedding_seed = 1;  // label vectors e_0, e_1, e_2
  std::int64_t attention_seed = 1;  // placeholder "qk" heads
  std::vector<std::int64_t> heads{4, 4};  // placeholder heads per layer (L = number of entries)
  std::int64_t qk_dim = 128;              // G of the placeholder heads

  void validate() const;    // InputError naming the offending option
  Config to_config() const; // every option plus task = "omniglot"
};

// Episode stream of each set (EpisodeSampler's `stream`).
enum class EpisodeSet : std::uint64_t { train = 1, validation = 2, test = 3 };

// Pixel side of the Omniglot PNGs.
constexpr int omniglot_side = 105;

// The banks of the three Omniglot splits (resized, ink = 255).
struct OmniglotBanks {
  ImageBank train, validation, test;
};
OmniglotBanks load_omniglot(const OmniglotOptions& o);

// The OOD bank: the images of ood_classes[0] (label 0) then ood_classes[1] (label 1), in file order.
ImageBank load_ood(const OmniglotOptions& o);

// OOD episode i of n: query = the (i/2)-th image of class 1 (even i, y = +1) or class 0 (odd i,
// y = −1); the support of class c is its image (i/2 + count_c/2) mod count_c, never the query;
// order [class-0 support (label 0), class-1 support (label 1), query].
Episode ood_episode(const ImageBank& bank, std::int64_t i);

// The placeholder attention: L = heads.size() layers of "qk" heads with G = qk_dim, every entry of
// Q and K ~ U(−1/√192, 1/√192) (PyTorch's nn.Linear default), readout mean, softmax.
AttentionSpec omniglot_placeholder_attention(const OmniglotOptions& o);

// The source images and support labels of every episode of one set (/episodes/<name>).
struct EpisodeRecord {
  std::string name;                  // "train", "validation", "test", "ood/<name>"
  std::vector<std::string> sources;  // [n, 3]: slots A, B, query
  std::vector<std::int64_t> labels;  // [n, 2]: labels of supports A and B
};

struct OmniglotData {
  Dataset dataset;  // /train, /validation, /test, /ood/<name> (each rank its rows), /attention
  ImageBank train_bank;
  EpisodeEmbedding embedding;
  std::vector<EpisodeRecord> episodes;  // replicated
};

// Loads the images, draws every episode (all ranks, cheap) and tokenises this rank's rows.
OmniglotData generate_omniglot(const OmniglotOptions& o, const Comm& comm);

// write_dataset plus /episodes, /embedding and /bank/train (collective).
void write_omniglot(const std::string& path, const OmniglotData& data, const Comm& comm, const Config& config,
                    const Provenance& provenance, const StageTimers& timers);

}  // namespace attnpaths
