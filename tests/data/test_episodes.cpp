// One-shot image episodes (data/episodes.hpp, data/images.hpp): EpisodeSampler determinism and
// invariants, tokenisation properties, the Pillow resize port on hand-checkable cases, and the
// bank/embedding round trip through a dataset file (read_episode_source) on every rank count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/data/episodes.hpp"
#include "attnpaths/data/images.hpp"
#include "attnpaths/data/omniglot.hpp"
#include "attnpaths/io/hdf5.hpp"
#include "test_support.hpp"

using namespace attnpaths;

namespace {

// `classes` classes of `drawings` images each; image i has every pixel = i (mod 256).
ImageBank synthetic_bank(int classes, int drawings) {
  ImageBank bank;
  bank.classes = classes;
  for (int c = 0; c < classes; ++c)
    for (int d = 0; d < drawings; ++d) {
      const auto i = static_cast<std::int64_t>(bank.label.size());
      bank.pixels.insert(bank.pixels.end(), 32 * 32, static_cast<std::uint8_t>(i * 37 % 256));
      bank.label.push_back(c);
      bank.source.push_back("image" + std::to_string(i));
    }
  return bank;
}

bool same(const Episode& a, const Episode& b) {
  return a.support[0] == b.support[0] && a.support[1] == b.support[1] && a.query == b.query &&
         a.support_label[0] == b.support_label[0] && a.support_label[1] == b.support_label[1] && a.y == b.y;
}

}  // namespace

TEST(EpisodeSampler, SameIndexSameEpisodeAndStreamsDiffer) {
  const ImageBank bank = synthetic_bank(7, 3);
  const EpisodeSampler a(bank, 5, 1), b(bank, 5, 1), other_stream(bank, 5, 2), other_seed(bank, 6, 1);
  int differ_stream = 0, differ_seed = 0;
  for (std::uint64_t i = 0; i < 200; ++i) {
    EXPECT_TRUE(same(a.draw(i), b.draw(i))) << i;
    EXPECT_TRUE(same(a.draw(i, 1.0), a.draw(i, 1.0))) << i;
    differ_stream += !same(a.draw(i), other_stream.draw(i));
    differ_seed += !same(a.draw(i), other_seed.draw(i));
  }
  EXPECT_GT(differ_stream, 150);
  EXPECT_GT(differ_seed, 150);
  // Drawing in a different order does not change an episode (counter-based).
  const Episode late = a.draw(123);
  for (std::uint64_t i = 0; i < 10; ++i) a.draw(i);
  EXPECT_TRUE(same(late, a.draw(123)));
}

TEST(EpisodeSampler, QueryIsNeverASupportAndTargetsAreRespected) {
  for (int drawings : {2, 3, 20}) {
    const ImageBank bank = synthetic_bank(2, drawings);  // the tightest cases: 2 classes, 2 drawings
    const EpisodeSampler sampler(bank, 11);
    int plus = 0, label_one_in_slot_a = 0, query_in_slot_a = 0;
    const int n = 2000;
    for (int i = 0; i < n; ++i) {
      const double target = i % 3 == 0 ? 0.0 : (i % 3 == 1 ? 1.0 : -1.0);
      const Episode e = sampler.draw(static_cast<std::uint64_t>(i), target);
      const int ca = bank.label[static_cast<std::size_t>(e.support[0])];
      const int cb = bank.label[static_cast<std::size_t>(e.support[1])];
      const int cq = bank.label[static_cast<std::size_t>(e.query)];
      ASSERT_NE(e.query, e.support[0]);
      ASSERT_NE(e.query, e.support[1]);
      ASSERT_NE(ca, cb);
      ASSERT_TRUE(cq == ca || cq == cb);
      ASSERT_EQ(e.support_label[0] + e.support_label[1], 1);
      const int query_label = cq == ca ? e.support_label[0] : e.support_label[1];
      ASSERT_EQ(e.y, query_label == 1 ? 1.0 : -1.0);
      if (target != 0.0) {
        ASSERT_EQ(e.y, target);
      }
      if (target == 0.0) plus += e.y > 0;
      label_one_in_slot_a += e.support_label[0] == 1;
      query_in_slot_a += cq == ca;
    }
    // Random labels, slots and (unforced) targets: about half each (binomial, > 6 sigma margin).
    EXPECT_NEAR(plus, n / 6.0, 6 * std::sqrt(n / 3.0 * 0.25)) << drawings;
    EXPECT_NEAR(label_one_in_slot_a, n / 2.0, 6 * std::sqrt(n * 0.25)) << drawings;
    EXPECT_NEAR(query_in_slot_a, n / 2.0, 6 * std::sqrt(n * 0.25)) << drawings;
  }
}

TEST(EpisodeSampler, TooFewClassesOrDrawingsIsAnInputError) {
  EXPECT_THROW(EpisodeSampler(synthetic_bank(1, 5), 1), InputError);
  EXPECT_THROW(EpisodeSampler(synthetic_bank(3, 1), 1), InputError);
}

TEST(Episodes, OodEpisodesHaveFixedOrderAndNeverReuseTheQuery) {
  ImageBank bank = synthetic_bank(2, 5);
  for (std::int64_t i = 0; i < 10; ++i) {
    const Episode e = ood_episode(bank, i);
    EXPECT_EQ(bank.label[static_cast<std::size_t>(e.support[0])], 0);
    EXPECT_EQ(bank.label[static_cast<std::size_t>(e.support[1])], 1);
    EXPECT_NE(e.query, e.support[0]);
    EXPECT_NE(e.query, e.support[1]);
    EXPECT_EQ(bank.label[static_cast<std::size_t>(e.query)], i % 2 == 0 ? 1 : 0);
    EXPECT_EQ(e.y, i % 2 == 0 ? 1.0 : -1.0);
    EXPECT_EQ(e.support_label[0], 0);
    EXPECT_EQ(e.support_label[1], 1);
  }
}

TEST(Episodes, TokensAreLayerNormedPatchesWithInterleavedChannels) {
  std::vector<std::uint8_t> img(32 * 32);
  for (int r = 0; r < 32; ++r)
    for (int c = 0; c < 32; ++c) img[static_cast<std::size_t>(r * 32 + c)] = static_cast<std::uint8_t>((r * 7 + c * 13) % 256);
  std::vector<double> t(16 * 192);
  tokenise_image(img.data(), Normalisation{}, t.data());
  for (int token = 0; token < 16; ++token) {
    double mean = 0, var = 0;
    for (int i = 0; i < 192; ++i) mean += t[static_cast<std::size_t>(token * 192 + i)];
    mean /= 192;
    for (int i = 0; i < 192; ++i) var += std::pow(t[static_cast<std::size_t>(token * 192 + i)] - mean, 2);
    var /= 192;
    EXPECT_NEAR(mean, 0.0, 1e-12);
    EXPECT_NEAR(var, 1.0, 1e-3);  // var/(var + 1e-5)
    // Pixel (p1, p2) of the patch sits at (p1·8 + p2)·3 + c, identical over c; patches row-major.
    const int r0 = token / 4 * 8, c0 = token % 4 * 8;
    const double* v = t.data() + token * 192;
    for (int c = 1; c < 3; ++c) EXPECT_EQ(v[(2 * 8 + 5) * 3 + c], v[(2 * 8 + 5) * 3]);
    const bool brighter = img[static_cast<std::size_t>((r0 + 2) * 32 + c0 + 5)] > img[static_cast<std::size_t>(r0 * 32 + c0)];
    EXPECT_EQ(v[(2 * 8 + 5) * 3] > v[0], brighter) << token;
  }
}

TEST(Episodes, PositionalCodeIsZScored) {
  const EpisodeEmbedding e = EpisodeEmbedding::make(3);
  double mean = 0, ss = 0;
  for (double v : e.positional) mean += v;
  mean /= static_cast<double>(e.positional.size());
  for (double v : e.positional) ss += (v - mean) * (v - mean);
  EXPECT_NEAR(mean, 0.0, 1e-12);
  EXPECT_NEAR(std::sqrt(ss / (static_cast<double>(e.positional.size()) - 1)), 1.0, 1e-5);
  EXPECT_EQ(e.label, EpisodeEmbedding::make(3).label);
  EXPECT_NE(e.label, EpisodeEmbedding::make(4).label);
}

TEST(PillowResize, ConstantImagesStayConstantAndEdgesAreAveraged) {
  for (int side : {105, 28}) {
    const std::vector<std::uint8_t> flat(static_cast<std::size_t>(side * side), 200);
    for (auto v : resize_bilinear_pillow(flat.data(), side, side, 32, 32)) ASSERT_EQ(v, 200) << side;
  }
  // 4 → 2 (Pillow 9.4 gives [36, 219]): scale 2, support 2. Output 0 is centred at 1.0, taps at
  // columns 0..2 with triangle weights (0.75, 0.75, 0.25)/1.75; output 1 at 3.0, columns 1..3 with
  // (0.25, 0.75, 0.75)/1.75. Fixed point (22 bits): 255·round(2^22/7) + 2^21 >> 22 = 36, and
  // 255·2·round(3·2^22/7) + 2^21 >> 22 = 219.
  const std::vector<std::uint8_t> row{0, 0, 255, 255};
  const auto out = resize_bilinear_pillow(row.data(), 4, 1, 2, 1);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], 36);
  EXPECT_EQ(out[1], 219);
}

TEST(EpisodeSource, BankAndEmbeddingRoundTripOnEveryRankCount) {
  const Comm& comm = test::world();
  const std::string path = test::scratch_dir("episode_source") + "/bank.h5";
  ImageBank bank = synthetic_bank(3, 2);
  bank.normalisation = {0.5, 0.25};
  bank.source[1] = "a much longer source name, to test fixed-length padding";
  const EpisodeEmbedding emb = EpisodeEmbedding::make(9);
  {
    h5::OutputFile out(path, comm);
    write_image_bank(out.file(), "bank/train", bank);
    write_episode_embedding(out.file(), emb);
    out.commit();
  }
  const EpisodeSource src = read_episode_source(path, comm);
  EXPECT_EQ(src.bank.pixels, bank.pixels);
  EXPECT_EQ(src.bank.label, bank.label);
  EXPECT_EQ(src.bank.source, bank.source);
  EXPECT_EQ(src.bank.classes, 3);
  EXPECT_EQ(src.bank.normalisation.mean, 0.5);
  EXPECT_EQ(src.bank.normalisation.std, 0.25);
  EXPECT_EQ(src.embedding.positional, emb.positional);
  EXPECT_EQ(src.embedding.label, emb.label);
  EXPECT_EQ(src.embedding.label_seed, 9u);
  // The same episodes from the stored bank as from the original.
  const EpisodeSampler a(bank, 4), b(src.bank, 4);
  for (std::uint64_t i = 0; i < 20; ++i) EXPECT_TRUE(same(a.draw(i), b.draw(i)));
  EXPECT_THROW(read_episode_source(path + ".missing", comm), InputError);
}

TEST(OmniglotFile, WrittenFileReadsAsADatasetWithThePlaceholderHeads) {
  const Comm& comm = test::world();
  const char* src = std::getenv("ATTNPATHS_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  const std::string data = std::string(src) + "/data/";
  OmniglotOptions o;
  o.background = {data + "omniglot/images_background_small1.zip", data + "omniglot/images_background_small2.zip"};
  o.evaluation = {data + "omniglot/all_runs.zip"};
  o.ood_images = data + "mnist/t10k-images-idx3-ubyte.gz";
  o.ood_labels = data + "mnist/t10k-labels-idx1-ubyte.gz";
  o.train_examples = 10;
  o.validation_examples = 4;
  o.test_examples = 6;
  o.ood_examples = 8;
  o.validate();
  const OmniglotData generated = generate_omniglot(o, comm);
  const std::string path = test::scratch_dir("omniglot_file") + "/omniglot.h5";
  StageTimers timers;
  write_omniglot(path, generated, comm, o.to_config(), Provenance::collect(comm, {}), timers);

  const Dataset d = read_dataset(path, comm);
  EXPECT_EQ(d.task, "omniglot");
  EXPECT_EQ(d.tokens, 48);
  EXPECT_EQ(d.token_dim, 192);
  EXPECT_EQ(d.train.count, 10);
  EXPECT_EQ(d.train.x, generated.dataset.train.x);  // this rank's rows
  ASSERT_TRUE(d.validation.has_value());
  EXPECT_EQ(d.validation->count, 4);
  EXPECT_EQ(d.test.count, 6);
  ASSERT_EQ(d.ood.size(), 1u);
  EXPECT_EQ(d.ood[0].name, "ood/mnist");
  EXPECT_EQ(d.ood[0].count, 8);
  EXPECT_EQ(d.attention.readout, Readout::mean);
  ASSERT_EQ(d.attention.depth(), 2);
  const double bound = 1.0 / std::sqrt(192.0);
  for (const auto& layer : d.attention.layers) {
    EXPECT_EQ(layer.style, AttentionStyle::qk);
    EXPECT_EQ(layer.heads, 4);
    EXPECT_EQ(layer.qk_dim, 128);
    double lo = 1, hi = -1;
    for (const auto* w : {&layer.q, &layer.k})
      for (double v : *w) lo = std::min(lo, v), hi = std::max(hi, v);
    EXPECT_GE(lo, -bound);
    EXPECT_LE(hi, bound);
    EXPECT_LT(lo, -0.99 * bound);  // U(−b, b): 98304 draws reach both ends
    EXPECT_GT(hi, 0.99 * bound);
  }
  EXPECT_NE(d.attention.layers[0].q, d.attention.layers[1].q);
  const EpisodeSource source = read_episode_source(path, comm);
  EXPECT_EQ(source.bank.size(), 4400);
  EXPECT_EQ(source.bank.classes, 220);
  EXPECT_EQ(source.bank.pixels, generated.train_bank.pixels);
  EXPECT_EQ(source.embedding.label, generated.embedding.label);
  // `train` rebuilds the stored training episodes from the bank: episode i of stream 1, target ±1.
  const EpisodeSampler sampler(source.bank, static_cast<std::uint64_t>(o.seed),
                               static_cast<std::uint64_t>(EpisodeSet::train));
  std::vector<double> x(48 * 192);
  const Episode e = sampler.draw(0, 1.0);
  episode_tokens(source.bank, e, source.embedding, x.data());
  if (d.train.local.begin == 0) {
    EXPECT_EQ(std::vector<double>(d.train.x.begin(), d.train.x.begin() + 48 * 192), x);
    EXPECT_EQ(d.train.y[0], 1.0);
  }
}
