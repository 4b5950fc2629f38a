// Episodes of the training image bank of a `data omniglot` file (data/episodes.hpp) as the training
// stream: episode `index` = EpisodeSampler(bank, seed, stream 0).draw(index), tokenised.
#include "attnpaths/data/episodes.hpp"
#include "attnpaths/train/trainer.hpp"

#include <fmt/format.h>

namespace attnpaths {

namespace {

class BankStream : public EpisodeStream {
 public:
  BankStream(EpisodeSource source, std::uint64_t seed, std::string path)
      : source_(std::move(source)), sampler_(source_.bank, seed), seed_(seed), path_(std::move(path)) {}
  int tokens() const override { return episode::tokens; }
  int token_dim() const override { return episode::token_dim; }
  std::string describe() const override {
    return fmt::format("image bank /bank/train of '{}' ({} images, {} classes), episode stream (seed {}, stream 0)",
                       path_, source_.bank.size(), source_.bank.classes, seed_);
  }
  void episode(std::uint64_t index, double* x, double* y) const override {
    const Episode e = sampler_.draw(index);
    episode_tokens(source_.bank, e, source_.embedding, x);
    *y = e.y;
  }

 private:
  EpisodeSource source_;
  EpisodeSampler sampler_;
  std::uint64_t seed_;
  std::string path_;
};

}  // namespace

std::unique_ptr<EpisodeStream> make_bank_stream(const std::string& dataset_path, std::uint64_t seed, const Comm& comm) {
  return std::make_unique<BankStream>(read_episode_source(dataset_path, comm), seed, dataset_path);
}

}  // namespace attnpaths
