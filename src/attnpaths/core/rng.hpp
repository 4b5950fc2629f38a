// Counter-based random numbers (Random123 Philox4x64-10). A stream is keyed by (seed, domain) and
// positioned by an index (an example, a chain, a head): the numbers an example gets never depend on
// how many ranks there are or which rank draws them.
#pragma once

#include <cstdint>

namespace attnpaths {

// What a stream is used for; part of the key so that different uses never share numbers.
enum class RngDomain : std::uint64_t {
  markov_chain = 1,
  markov_noise = 2,
  head_perturbation = 3,
  sampler = 4,
  initial_point = 5,
  robustness = 6,
  episode = 20,          // one-shot image episodes (data/episodes.hpp): classes, drawings, labels, query
  label_embedding = 21,  // the label vectors e_0, e_1, e_2 of the image episodes
  attention_init = 22,   // the placeholder "qk" heads written by `data omniglot`
  training_init = 30,       // train: initial weights (index = parameter block)
  training_synthetic = 31,  // train: the synthetic episode stream (index = episode)
  pruning_order = 40,       // prune: the random head orders (index = order)
  test = 99,
};

class RandomStream {
 public:
  // The full, serialisable position of a stream (for checkpoints).
  struct State {
    std::uint64_t block = 0;  // next Philox counter block
    std::uint32_t used = 4;   // uniforms consumed from the current block (4 = need a new block)
    std::uint32_t has_spare = 0;
    double spare = 0.0;  // second Box–Muller normal
    std::uint64_t buffer[4] = {0, 0, 0, 0};
  };

  RandomStream(std::uint64_t seed, RngDomain domain, std::uint64_t index);

  double uniform();  // uniform on the open interval (0, 1)
  double normal();   // standard normal (Box–Muller)
  std::uint64_t bits();  // 64 random bits

  const State& state() const { return state_; }
  void set_state(const State& s) { state_ = s; }

 private:
  void refill();
  std::uint64_t key_[2];
  std::uint64_t index_;
  State state_;
};

}  // namespace attnpaths
