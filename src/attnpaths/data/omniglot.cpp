// The one-shot image task: Omniglot/MNIST image banks, balanced episode sets, the dataset file.
#include "attnpaths/data/omniglot.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/rng.hpp"
#include "attnpaths/data/dataset_file.hpp"
#include "attnpaths/data/images.hpp"
#include "attnpaths/io/hdf5.hpp"

namespace attnpaths {

namespace {

constexpr int pixels32 = episode::image_side * episode::image_side;

std::string file_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

std::vector<std::string> split_path(const std::string& member) {
  std::vector<std::string> parts;
  std::stringstream in(member);
  for (std::string p; std::getline(in, p, '/');) parts.push_back(p);
  return parts;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

void require_count(std::int64_t n, const char* option, bool allow_zero) {
  ATTN_REQUIRE((allow_zero ? n >= 0 : n >= 2) && n % 2 == 0 && n < (std::int64_t{1} << 40), InputError,
               "omniglot: --{} = {} must be an even number {} (every set is balanced: half y = +1, half y = -1)", option,
               n, allow_zero ? ">= 0" : ">= 2");
}

void require_normalisation(const std::vector<double>& v, const char* option) {
  ATTN_REQUIRE(v.size() == 2 && std::isfinite(v[0]) && std::isfinite(v[1]) && v[1] > 0, InputError,
               "omniglot: --{} needs MEAN,STD with finite values and STD > 0", option);
}

// ------------------------------------------------------------------------------------- image lists

// One image of a zip: the archive (index into the opened zips) and its member path.
struct ImageRef {
  std::size_t zip = 0;
  std::string member;
};
using ClassList = std::map<std::string, std::vector<ImageRef>>;  // class key → drawings (sorted)

// <top>/<alphabet>/<character>/<image>.png of every background zip; a relative path found in several
// zips is one image (its copies must have the same CRC-32 and size).
void list_background(const std::vector<ZipArchive>& zips, std::size_t first, std::size_t count, ClassList& classes) {
  std::map<std::string, ImageRef> seen;  // relative path → first copy
  for (std::size_t z = first; z < first + count; ++z)
    for (const auto& member : zips[z].members()) {
      const auto parts = split_path(member);
      if (parts.size() != 4 || !ends_with(parts[3], ".png")) continue;
      const std::string rel = parts[1] + "/" + parts[2] + "/" + parts[3];
      const auto it = seen.find(rel);
      if (it != seen.end()) {
        const ZipArchive& other = zips[it->second.zip];
        ATTN_REQUIRE(other.crc(it->second.member) == zips[z].crc(member), InputError,
                     "omniglot: '{}' is in '{}' and in '{}' with different content (expected one image per "
                     "<alphabet>/<character>/<file>)",
                     rel, other.path(), zips[z].path());
        continue;
      }
      seen[rel] = {z, member};
      classes[parts[1] + "/" + parts[2]].push_back({z, member});
    }
  for (auto& [key, refs] : classes)
    std::sort(refs.begin(), refs.end(), [](const ImageRef& a, const ImageRef& b) { return a.member < b.member; });
}

// The one-shot runs layout: runNN/class_labels.txt lines "runNN/test/itemXX.png runNN/training/classYY.png"
// pair two drawings of one class (training image first).
void list_runs(const ZipArchive& zip, std::size_t z, ClassList& classes) {
  for (const auto& member : zip.members()) {
    if (!ends_with(member, "class_labels.txt")) continue;
    const auto bytes = zip.read(member);
    std::stringstream in(std::string(bytes.begin(), bytes.end()));
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      std::stringstream fields(line);
      std::string query, support, rest;
      fields >> query >> support >> rest;
      ATTN_REQUIRE(!support.empty() && rest.empty() && zip.contains(query) && zip.contains(support), InputError,
                   "zip archive '{}': {} line {}: expected '<test image> <training image>' naming two PNG members, got "
                   "'{}'",
                   zip.path(), member, line_no, line);
      classes[support] = {{z, support}, {z, query}};
    }
  }
}

// Reads, checks (105×105, 1-bit grey), inverts (ink = 255) and resizes every image to 32×32.
ImageBank make_bank(const std::vector<ZipArchive>& zips, const ClassList& classes, const Normalisation& n) {
  ImageBank bank;
  bank.normalisation = n;
  bank.classes = static_cast<int>(classes.size());
  int label = 0;
  for (const auto& [key, refs] : classes) {
    for (const auto& ref : refs) {
      const ZipArchive& zip = zips[ref.zip];
      const std::string where = fmt::format("zip archive '{}', member '{}'", zip.path(), ref.member);
      GreyImage img = decode_png_1bit(zip.read(ref.member), omniglot_side, where);
      for (auto& v : img.pixels) v = static_cast<std::uint8_t>(255 - v);  // 1 = white background → ink 255
      const auto small = resize_bilinear_pillow(img.pixels.data(), img.width, img.height, episode::image_side,
                                                episode::image_side);
      bank.pixels.insert(bank.pixels.end(), small.begin(), small.end());
      bank.label.push_back(label);
      bank.source.push_back(file_name(zip.path()) + ":" + ref.member);
    }
    ++label;
  }
  return bank;
}

// Episodes of a set need >= 2 classes with >= 2 drawings each.
void require_episodes_possible(const ImageBank& bank, std::int64_t n, const std::string& set, const char* option) {
  if (n == 0) return;
  std::vector<int> drawings(sz(std::max(bank.classes, 0)), 0);
  for (auto c : bank.label) ++drawings[sz(c)];
  const auto usable = std::count_if(drawings.begin(), drawings.end(), [](int d) { return d >= 2; });
  ATTN_REQUIRE(bank.classes >= 2 && usable == bank.classes, InputError,
               "omniglot: --{} = {} needs a {} split of at least 2 classes with at least 2 drawings each; it has {} "
               "class(es), {} with >= 2 drawings",
               option, n, set, bank.classes, usable);
}

}  // namespace

// ---------------------------------------------------------------------------------------- options

void OmniglotOptions::validate() const {
  ATTN_REQUIRE(!background.empty(), InputError, "omniglot: --background needs at least one zip");
  ATTN_REQUIRE(!evaluation.empty(), InputError, "omniglot: --evaluation needs at least one zip");
  require_count(train_examples, "train-examples", false);
  require_count(validation_examples, "validation-examples", true);
  require_count(test_examples, "test-examples", false);
  require_count(ood_examples, "ood-examples", true);
  ATTN_REQUIRE(validation_examples == 0 || !validation_alphabets.empty(), InputError,
               "omniglot: --validation-examples = {} needs --validation-alphabets", validation_examples);
  ATTN_REQUIRE(ood_examples == 0 || (!ood_images.empty() && !ood_labels.empty()), InputError,
               "omniglot: --ood-examples = {} needs --ood-images and --ood-labels", ood_examples);
  ATTN_REQUIRE(ood_classes.size() == 2 && ood_classes[0] != ood_classes[1] && ood_classes[0] >= 0 &&
                   ood_classes[0] <= 255 && ood_classes[1] >= 0 && ood_classes[1] <= 255,
               InputError, "omniglot: --ood-classes needs two distinct class labels in 0..255, got [{}]",
               fmt::join(ood_classes, ","));
  ATTN_REQUIRE(!ood_name.empty() && ood_name.find('/') == std::string::npos, InputError,
               "omniglot: --ood-name '{}' must be a non-empty name without '/'", ood_name);
  require_normalisation(normalisation, "normalisation");
  require_normalisation(ood_normalisation, "ood-normalisation");
  for (auto [s, name] : {std::pair{seed, "seed"}, {embedding_seed, "embedding-seed"}, {attention_seed, "attention-seed"}})
    ATTN_REQUIRE(s >= 0, InputError, "omniglot: --{} = {} must be >= 0", name, s);
  ATTN_REQUIRE(!heads.empty() && heads.size() <= 8, InputError, "omniglot: --heads needs 1 to 8 layers");
  for (auto h : heads) ATTN_REQUIRE(h >= 1 && h <= 64, InputError, "omniglot: --heads: {} heads must be in 1..64", h);
  ATTN_REQUIRE(qk_dim >= 1 && qk_dim <= 4096, InputError, "omniglot: --qk-dim = {} must be in 1..4096", qk_dim);
}

Config OmniglotOptions::to_config() const {
  Config c;
  c.set("task", "omniglot");
  c.set("background", background);
  c.set("evaluation", evaluation);
  c.set("validation_alphabets", validation_alphabets);
  c.set("ood_images", ood_images);
  c.set("ood_labels", ood_labels);
  c.set("ood_name", ood_name);
  c.set("ood_classes", ConfigValue(ood_classes));
  c.set("train_examples", train_examples);
  c.set("validation_examples", validation_examples);
  c.set("test_examples", test_examples);
  c.set("ood_examples", ood_examples);
  c.set("normalisation", normalisation);
  c.set("ood_normalisation", ood_normalisation);
  c.set("seed", seed);
  c.set("embedding_seed", embedding_seed);
  c.set("attention_seed", attention_seed);
  c.set("heads", ConfigValue(heads));
  c.set("qk_dim", qk_dim);
  return c;
}

// ------------------------------------------------------------------------------------------ banks

OmniglotBanks load_omniglot(const OmniglotOptions& o) {
  std::vector<ZipArchive> zips;
  for (const auto& p : o.background) zips.emplace_back(p, "--background");
  for (const auto& p : o.evaluation) zips.emplace_back(p, "--evaluation");
  ClassList background, train, validation, test;
  list_background(zips, 0, o.background.size(), background);
  const std::set<std::string> held_out(o.validation_alphabets.begin(), o.validation_alphabets.end());
  std::set<std::string> found;
  for (auto& [key, refs] : background) {
    const std::string alphabet = key.substr(0, key.find('/'));
    if (held_out.count(alphabet)) {
      found.insert(alphabet);
      validation[key] = std::move(refs);
    } else {
      train[key] = std::move(refs);
    }
  }
  for (const auto& a : held_out)
    ATTN_REQUIRE(found.count(a), InputError,
                 "omniglot: --validation-alphabets names '{}', which is not an alphabet of the --background zips [{}]",
                 a, fmt::join(o.background, ", "));
  for (std::size_t z = o.background.size(); z < zips.size(); ++z) {
    const auto members = zips[z].members();
    const bool runs = std::any_of(members.begin(), members.end(),
                                  [](const std::string& m) { return ends_with(m, "class_labels.txt"); });
    ClassList part;
    if (runs)
      list_runs(zips[z], z, part);
    else
      list_background(zips, z, 1, part);
    for (auto& [key, refs] : part) test[fmt::format("{}:{}", z, key)] = std::move(refs);
  }
  const Normalisation n{o.normalisation[0], o.normalisation[1]};
  return {make_bank(zips, train, n), make_bank(zips, validation, n), make_bank(zips, test, n)};
}

ImageBank load_ood(const OmniglotOptions& o) {
  const IdxImages images = read_idx_images(o.ood_images, "--ood-images");
  const auto labels = read_idx_labels(o.ood_labels, "--ood-labels");
  ATTN_REQUIRE(static_cast<std::int64_t>(labels.size()) == images.count, InputError,
               "omniglot: --ood-labels '{}' has {} labels but --ood-images '{}' has {} images", o.ood_labels,
               labels.size(), o.ood_images, images.count);
  ImageBank bank;
  bank.normalisation = {o.ood_normalisation[0], o.ood_normalisation[1]};
  bank.classes = 2;
  const std::size_t per_image = sz(images.rows) * sz(images.cols);
  for (int label = 0; label < 2; ++label)
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] != o.ood_classes[sz(label)]) continue;
      const auto small = resize_bilinear_pillow(images.pixels.data() + i * per_image, images.cols, images.rows,
                                                episode::image_side, episode::image_side);
      bank.pixels.insert(bank.pixels.end(), small.begin(), small.end());
      bank.label.push_back(label);
      bank.source.push_back(fmt::format("{}#{}", file_name(o.ood_images), i));
    }
  return bank;
}

Episode ood_episode(const ImageBank& bank, std::int64_t i) {
  std::int64_t first[2] = {0, 0}, count[2] = {0, 0};
  for (std::int64_t j = 0; j < bank.size(); ++j) ++count[bank.label[sz(j)]];
  first[1] = count[0];  // load_ood stores class 0 then class 1
  const std::int64_t k = i / 2;
  const int query_class = i % 2 == 0 ? 1 : 0;
  Episode e;
  for (int c = 0; c < 2; ++c) e.support[c] = first[c] + (k + count[c] / 2) % count[c];
  e.query = first[query_class] + k;
  e.support_label[0] = 0;
  e.support_label[1] = 1;
  e.y = query_class == 1 ? 1.0 : -1.0;
  return e;
}

AttentionSpec omniglot_placeholder_attention(const OmniglotOptions& o) {
  AttentionSpec spec;
  spec.readout = Readout::mean;
  spec.nonlinearity = Nonlinearity::softmax;
  const double bound = 1.0 / std::sqrt(static_cast<double>(episode::token_dim));
  const std::size_t per_head = sz(o.qk_dim) * episode::token_dim;
  for (std::size_t l = 0; l < o.heads.size(); ++l) {
    AttentionLayer layer;
    layer.style = AttentionStyle::qk;
    layer.heads = static_cast<int>(o.heads[l]);
    layer.qk_dim = static_cast<int>(o.qk_dim);
    layer.q.resize(sz(layer.heads) * per_head);
    layer.k.resize(sz(layer.heads) * per_head);
    // Head h of layer l: Q from stream (seed, attention_init, (l·64 + h)·2), K from the next index.
    for (int h = 0; h < layer.heads; ++h)
      for (int m = 0; m < 2; ++m) {
        RandomStream rng(static_cast<std::uint64_t>(o.attention_seed), rng_domain::attention_init,
                         (l * 64 + sz(h)) * 2 + sz(m));
        double* w = (m == 0 ? layer.q : layer.k).data() + sz(h) * per_head;
        for (std::size_t j = 0; j < per_head; ++j) w[j] = bound * (2.0 * rng.uniform() - 1.0);
      }
    spec.layers.push_back(std::move(layer));
  }
  return spec;
}

// ------------------------------------------------------------------------------------------- sets

namespace {

// Draws all n episodes (replicated) and tokenises this rank's rows of the set.
template <class Draw>
ExampleSet episode_set(const std::string& name, std::int64_t n, const ImageBank& bank, const EpisodeEmbedding& emb,
                       const Comm& comm, Draw draw, EpisodeRecord& record) {
  const std::size_t per_example = sz(episode::tokens) * episode::token_dim;
  std::vector<Episode> episodes(sz(n));
  for (std::int64_t i = 0; i < n; ++i) episodes[sz(i)] = draw(i);
  record.name = name;
  for (const auto& e : episodes) {
    for (auto idx : {e.support[0], e.support[1], e.query}) record.sources.push_back(bank.source[sz(idx)]);
    record.labels.push_back(e.support_label[0]);
    record.labels.push_back(e.support_label[1]);
  }
  ExampleSet set;
  set.name = name;
  set.count = n;
  set.local = block_range(n, comm.rank(), comm.size());
  const std::int64_t local = set.local.size();
  set.x.assign(sz(local) * per_example, 0.0);
  set.y.assign(sz(local), 0.0);
#pragma omp parallel for schedule(static) if (local >= 16)
  for (std::int64_t mu = 0; mu < local; ++mu) {
    const Episode& e = episodes[sz(set.local.begin + mu)];
    episode_tokens(bank, e, emb, set.x.data() + sz(mu) * per_example);
    set.y[sz(mu)] = e.y;
  }
  return set;
}

ExampleSet omniglot_set(const std::string& name, std::int64_t n, const ImageBank& bank, const OmniglotOptions& o,
                        EpisodeSet stream, const EpisodeEmbedding& emb, const Comm& comm, EpisodeRecord& record) {
  const EpisodeSampler sampler(bank, static_cast<std::uint64_t>(o.seed), static_cast<std::uint64_t>(stream));
  return episode_set(name, n, bank, emb, comm,
                     [&](std::int64_t i) { return sampler.draw(static_cast<std::uint64_t>(i), i % 2 == 0 ? 1.0 : -1.0); },
                     record);
}

}  // namespace

OmniglotData generate_omniglot(const OmniglotOptions& o, const Comm& comm) {
  OmniglotBanks banks = load_omniglot(o);
  require_episodes_possible(banks.train, o.train_examples, "training", "train-examples");
  require_episodes_possible(banks.validation, o.validation_examples, "validation", "validation-examples");
  require_episodes_possible(banks.test, o.test_examples, "test", "test-examples");
  OmniglotData data;
  data.embedding = EpisodeEmbedding::make(static_cast<std::uint64_t>(o.embedding_seed));
  Dataset& d = data.dataset;
  d.task = "omniglot";
  d.tokens = episode::tokens;
  d.token_dim = episode::token_dim;
  d.attention = omniglot_placeholder_attention(o);
  auto record = [&data]() -> EpisodeRecord& { return data.episodes.emplace_back(); };
  d.train = omniglot_set("train", o.train_examples, banks.train, o, EpisodeSet::train, data.embedding, comm, record());
  if (o.validation_examples > 0)
    d.validation = omniglot_set("validation", o.validation_examples, banks.validation, o, EpisodeSet::validation,
                                data.embedding, comm, record());
  d.test = omniglot_set("test", o.test_examples, banks.test, o, EpisodeSet::test, data.embedding, comm, record());
  if (o.ood_examples > 0) {
    const ImageBank ood = load_ood(o);
    std::int64_t count[2] = {0, 0};
    for (auto c : ood.label) ++count[c];
    const std::int64_t need = std::max<std::int64_t>(2, o.ood_examples / 2);
    ATTN_REQUIRE(count[0] >= need && count[1] >= need, InputError,
                 "omniglot: --ood-examples = {} needs at least {} images of each class {} and {} in '{}' (one query "
                 "each, and another image as the support); found {} and {}",
                 o.ood_examples, need, o.ood_classes[0], o.ood_classes[1], o.ood_labels, count[0], count[1]);
    d.ood.push_back(episode_set("ood/" + o.ood_name, o.ood_examples, ood, data.embedding, comm,
                                [&ood](std::int64_t i) { return ood_episode(ood, i); }, record()));
  }
  data.train_bank = std::move(banks.train);
  return data;
}

void write_omniglot(const std::string& path, const OmniglotData& data, const Comm& comm, const Config& config,
                    const Provenance& provenance, const StageTimers& timers) {
  write_dataset(path, data.dataset, comm, config, provenance, timers, [&data](const h5::File& file) {
    for (const auto& r : data.episodes) {
      const auto n = static_cast<hsize_t>(r.labels.size() / 2);
      const auto g = file.require_group("episodes/" + r.name);
      g.write_strings("sources", {n, 3}, r.sources);
      g.write<std::int64_t>("labels", {n, 2}, r.labels);
    }
    write_episode_embedding(file, data.embedding);
    write_image_bank(file, "bank/train", data.train_bank);
  });
}

}  // namespace attnpaths
