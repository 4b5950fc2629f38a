// One-shot image episodes (docs/data.md §4): tokenisation, embedding, sampler, bank I/O.
#include "attnpaths/data/episodes.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/io/hdf5.hpp"

namespace attnpaths {

namespace {

constexpr int pixels_per_image = episode::image_side * episode::image_side;
constexpr int grid = episode::image_side / episode::patch_side;  // 4 patches per row

// A uniform integer in [0, n).
std::int64_t pick(RandomStream& rng, std::int64_t n) {
  return std::min<std::int64_t>(n - 1, static_cast<std::int64_t>(rng.uniform() * static_cast<double>(n)));
}

}  // namespace

// ------------------------------------------------------------------------------------- tokenisation

void tokenise_image(const std::uint8_t* image32, const Normalisation& n, double* tokens) {
  using namespace episode;
  for (int token = 0; token < tokens_per_image; ++token) {
    const int row0 = (token / grid) * patch_side, col0 = (token % grid) * patch_side;
    double* v = tokens + sz(token) * token_dim;
    // (u/255 − m)/s on 3 identical channels; index (p1·8 + p2)·3 + c.
    for (int p1 = 0; p1 < patch_side; ++p1)
      for (int p2 = 0; p2 < patch_side; ++p2) {
        const double u = image32[(row0 + p1) * image_side + col0 + p2];
        const double value = (u / 255.0 - n.mean) / n.std;
        for (int c = 0; c < channels; ++c) v[(p1 * patch_side + p2) * channels + c] = value;
      }
    // LayerNorm over the 192 values: (v − mean)/sqrt(var + 1e-5), biased variance, no affine.
    double mean = 0.0;
    for (int i = 0; i < token_dim; ++i) mean += v[i];
    mean /= token_dim;
    double var = 0.0;
    for (int i = 0; i < token_dim; ++i) var += (v[i] - mean) * (v[i] - mean);
    var /= token_dim;
    const double inv = 1.0 / std::sqrt(var + 1e-5);
    for (int i = 0; i < token_dim; ++i) v[i] = (v[i] - mean) * inv;
  }
}

EpisodeEmbedding EpisodeEmbedding::make(std::uint64_t label_seed) {
  using namespace episode;
  EpisodeEmbedding e;
  e.label_seed = label_seed;
  // pe[p, 2i] = sin(p·10000^(−2i/192)), pe[p, 2i+1] = cos(same), z-scored over the table (unbiased std).
  e.positional.assign(sz(tokens) * token_dim, 0.0);
  for (int p = 0; p < tokens; ++p)
    for (int i = 0; i < token_dim / 2; ++i) {
      const double angle = p * std::pow(10000.0, -2.0 * i / token_dim);
      e.positional[sz(p) * token_dim + sz(2 * i)] = std::sin(angle);
      e.positional[sz(p) * token_dim + sz(2 * i + 1)] = std::cos(angle);
    }
  const double count = static_cast<double>(e.positional.size());
  double mean = 0.0;
  for (double v : e.positional) mean += v;
  mean /= count;
  double ss = 0.0;
  for (double v : e.positional) ss += (v - mean) * (v - mean);
  const double std = std::sqrt(ss / (count - 1.0));
  for (double& v : e.positional) v = (v - mean) / (std + 1e-6);
  // e_0, e_1, e_2 ~ N(0, 1), row-major from the stream (label_seed, label_embedding, 0).
  RandomStream rng(label_seed, rng_domain::label_embedding, 0);
  e.label.resize(sz(3) * token_dim);
  for (double& v : e.label) v = rng.normal();
  return e;
}

void episode_tokens(const ImageBank& bank, const Episode& e, const EpisodeEmbedding& emb, double* x) {
  using namespace episode;
  const std::int64_t image[3] = {e.support[0], e.support[1], e.query};
  const int label[3] = {e.support_label[0], e.support_label[1], 2};
  for (int slot = 0; slot < 3; ++slot) {
    double* block = x + sz(slot) * tokens_per_image * token_dim;
    tokenise_image(bank.pixels.data() + sz(image[slot]) * pixels_per_image, bank.normalisation, block);
    const double* e_label = emb.label.data() + sz(label[slot]) * token_dim;
    for (int t = 0; t < tokens_per_image; ++t) {
      const double* pe = emb.positional.data() + sz(slot * tokens_per_image + t) * token_dim;
      for (int i = 0; i < token_dim; ++i) block[sz(t) * token_dim + sz(i)] += pe[i] + e_label[i];
    }
  }
}

// ------------------------------------------------------------------------------------------ sampler

EpisodeSampler::EpisodeSampler(const ImageBank& bank, std::uint64_t seed, std::uint64_t stream)
    : bank_(&bank), seed_(seed), stream_(stream), by_class_(sz(std::max(bank.classes, 0))) {
  ATTN_REQUIRE(stream < (std::uint64_t{1} << 16), InputError, "episode stream {} must be < 65536", stream);
  for (std::int64_t i = 0; i < bank.size(); ++i) {
    const std::int32_t c = bank.label[sz(i)];
    ATTN_REQUIRE(c >= 0 && c < bank.classes, InputError, "image bank: image {} has class {}, expected 0..{}", i, c,
                 bank.classes - 1);
    by_class_[sz(c)].push_back(i);
  }
  ATTN_REQUIRE(bank.classes >= 2, InputError,
               "image bank: {} class(es); a 2-way episode needs at least 2 classes with 2 drawings each",
               bank.classes);
  for (std::size_t c = 0; c < by_class_.size(); ++c)
    ATTN_REQUIRE(by_class_[c].size() >= 2, InputError,
                 "image bank: class {} ({}) has {} drawing(s); every class needs at least 2 (support and query)", c,
                 by_class_[c].empty() ? "" : bank.source[sz(by_class_[c][0])], by_class_[c].size());
}

Episode EpisodeSampler::draw(std::uint64_t index, double target) const {
  RandomStream rng(seed_, rng_domain::episode, (stream_ << 48) | index);
  const auto classes = static_cast<std::int64_t>(by_class_.size());
  const std::int64_t class_a = pick(rng, classes);
  std::int64_t class_b = pick(rng, classes - 1);
  if (class_b >= class_a) ++class_b;
  const std::vector<std::int64_t>* drawings[2] = {&by_class_[sz(class_a)], &by_class_[sz(class_b)]};
  std::int64_t drawing[2];
  Episode e;
  for (int s = 0; s < 2; ++s) {
    drawing[s] = pick(rng, static_cast<std::int64_t>(drawings[s]->size()));
    e.support[s] = (*drawings[s])[sz(drawing[s])];
  }
  const bool swap = rng.uniform() < 0.5;  // labels: a random permutation of the two supports
  e.support_label[0] = swap ? 1 : 0;
  e.support_label[1] = swap ? 0 : 1;
  int query_slot = 0;
  if (target == 0.0)
    query_slot = rng.uniform() < 0.5 ? 0 : 1;
  else  // the slot whose label gives y = target
    query_slot = (e.support_label[0] == 1) == (target > 0) ? 0 : 1;
  // A drawing of the query slot's class other than its support.
  const auto& own = *drawings[query_slot];
  std::int64_t q = pick(rng, static_cast<std::int64_t>(own.size()) - 1);
  if (q >= drawing[query_slot]) ++q;
  e.query = own[sz(q)];
  e.y = e.support_label[query_slot] == 1 ? 1.0 : -1.0;
  return e;
}

// ------------------------------------------------------------------------------------------ bank I/O

void write_image_bank(const h5::File& file, const std::string& group, const ImageBank& bank) {
  const auto n = static_cast<hsize_t>(bank.size());
  const auto side = static_cast<hsize_t>(episode::image_side);
  const auto g = file.require_group(group);
  g.set_attr("classes", std::int64_t{bank.classes});
  g.set_attr("normalisation_mean", bank.normalisation.mean);
  g.set_attr("normalisation_std", bank.normalisation.std);
  g.write<std::uint8_t>("images", {n, side, side}, bank.pixels);
  g.write<int>("label", {n}, bank.label);
  g.write_strings("source", {n}, bank.source);
}

void write_episode_embedding(const h5::File& file, const EpisodeEmbedding& emb) {
  const auto g = file.require_group("embedding");
  g.set_attr("label_seed", static_cast<std::int64_t>(emb.label_seed));
  g.write<double>("positional", {episode::tokens, episode::token_dim}, emb.positional);
  g.write<double>("label", {3, episode::token_dim}, emb.label);
}

namespace {

h5::Dataset checked(const h5::Location& g, const std::string& name, const h5::Dims& expected, const char* what) {
  h5::Dataset d = g.dataset(name);
  const h5::Dims dims = d.dims();
  bool ok = dims.size() == expected.size();
  for (std::size_t i = 0; ok && i < dims.size(); ++i) ok = expected[i] == 0 || dims[i] == expected[i];
  ATTN_REQUIRE(ok, InputError, "dataset file '{}': dataset '{}' has shape [{}], expected {}", d.file_path(), d.name(),
               fmt::join(dims, ", "), what);
  return d;
}

}  // namespace

EpisodeSource read_episode_source(const std::string& path, const Comm& comm) {
  using namespace episode;
  const h5::File file(path, comm, h5::File::Mode::read);
  ATTN_REQUIRE(file.is_group("bank/train") && file.is_group("embedding"), InputError,
               "dataset file '{}': missing /bank/train or /embedding (write it with `attnpaths data omniglot`)", path);
  EpisodeSource src;
  const h5::Location g = file.group("bank/train");
  ImageBank& bank = src.bank;
  const h5::Dataset images = checked(g, "images", {0, image_side, image_side}, "[n, 32, 32]");
  const auto n = static_cast<hsize_t>(images.dims()[0]);
  bank.pixels = images.read_all<std::uint8_t>();
  bank.label = checked(g, "label", {n}, "[n] (n of images)").read_all<int>();
  bank.source = checked(g, "source", {n}, "[n] (n of images)").read_strings();
  bank.classes = static_cast<int>(g.attr_int("classes"));
  bank.normalisation = {g.attr_double("normalisation_mean"), g.attr_double("normalisation_std")};
  ATTN_REQUIRE(std::isfinite(bank.normalisation.mean) && std::isfinite(bank.normalisation.std) &&
                   bank.normalisation.std > 0,
               InputError, "dataset file '{}': /bank/train normalisation ({}, {}) must be finite with std > 0", path,
               bank.normalisation.mean, bank.normalisation.std);
  for (std::size_t i = 0; i < bank.label.size(); ++i)
    ATTN_REQUIRE(bank.label[i] >= 0 && bank.label[i] < bank.classes, InputError,
                 "dataset file '{}': /bank/train/label[{}] = {}, expected 0..{} (attribute classes)", path, i,
                 bank.label[i], bank.classes - 1);
  const h5::Location e = file.group("embedding");
  src.embedding.positional = checked(e, "positional", {tokens, token_dim}, "[48, 192]").read_all<double>();
  src.embedding.label = checked(e, "label", {3, token_dim}, "[3, 192]").read_all<double>();
  src.embedding.label_seed = static_cast<std::uint64_t>(e.attr_int("label_seed"));
  for (const auto* v : {&src.embedding.positional, &src.embedding.label})
    for (double x : *v)
      ATTN_REQUIRE(std::isfinite(x), InputError, "dataset file '{}': /embedding has a non-finite value", path);
  return src;
}

}  // namespace attnpaths
