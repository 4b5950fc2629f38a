// Episodes of the training image bank (data/episodes.hpp) as the training stream.
#include "attnpaths/core/error.hpp"
#include "attnpaths/train/trainer.hpp"

namespace attnpaths {

std::unique_ptr<EpisodeStream> make_bank_stream(const std::string& dataset_path, std::uint64_t, const Comm&) {
  throw InputError("train: the image-bank stream of '" + dataset_path + "' is not available in this build");
}

}  // namespace attnpaths
