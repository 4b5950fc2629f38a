#include "attnpaths/sampler/checkpoint.hpp"

#include <fmt/format.h>

#include <cstring>
#include <sstream>

#include "attnpaths/core/error.hpp"

namespace attnpaths {

namespace {

constexpr int n_reals = 8, n_integers = 16;

std::string slot_name(int k) { return fmt::format("checkpoint/slot_{}", k); }

struct Fnv {
  std::uint64_t h = 1469598103934665603ull;
  void add(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 1099511628211ull;
    }
  }
  void add(const std::vector<double>& v) { add(v.data(), v.size() * sizeof(double)); }
};

void pack(const ChainState& s, double seconds, std::vector<double>& reals, std::vector<std::int64_t>& ints) {
  reals.assign(n_reals, 0.0);
  ints.assign(n_integers, 0);
  reals[0] = s.step_size;
  reals[1] = s.step_adaptation.counter;
  reals[2] = s.step_adaptation.s_bar;
  reals[3] = s.step_adaptation.x_bar;
  reals[4] = s.step_adaptation.mu;
  reals[5] = s.rng.spare;
  reals[6] = seconds;
  ints[0] = s.iteration;
  ints[1] = s.window.window_counter;
  ints[2] = s.window.window_size;
  ints[3] = s.window.next_window;
  ints[4] = s.window.samples;
  ints[5] = s.gradient_evaluations;
  ints[6] = static_cast<std::int64_t>(s.rng.block);
  ints[7] = s.rng.used;
  ints[8] = s.rng.has_spare;
  for (int i = 0; i < 4; ++i) std::memcpy(&ints[static_cast<std::size_t>(9 + i)], &s.rng.buffer[i], 8);
  ints[13] = s.welford_mean.empty() ? 0 : 1;
}

std::uint64_t checksum(const ChainState& s, const std::vector<double>& reals, const std::vector<std::int64_t>& ints) {
  Fnv f;
  f.add(s.position);
  f.add(s.inv_metric);
  f.add(s.welford_mean);
  f.add(s.welford_m2);
  f.add(reals.data(), 6 * sizeof(double));  // not the seconds
  f.add(ints.data(), ints.size() * sizeof(std::int64_t));
  return f.h;
}

// "key=value;key=value" → the keys whose values differ.
std::string fingerprint_diff(const std::string& stored, const std::string& now) {
  auto split = [](const std::string& s) {
    std::vector<std::pair<std::string, std::string>> kv;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ';')) {
      const auto eq = item.find('=');
      kv.emplace_back(item.substr(0, eq), eq == std::string::npos ? "" : item.substr(eq + 1));
    }
    return kv;
  };
  const auto a = split(stored), b = split(now);
  std::string out;
  for (const auto& [k, v] : b) {
    std::string old = "(absent)";
    for (const auto& [k2, v2] : a)
      if (k2 == k) old = v2;
    if (old != v) out += fmt::format("{}{}: checkpoint {} vs now {}", out.empty() ? "" : "; ", k, old, v);
  }
  return out.empty() ? "(unparsable fingerprint)" : out;
}

}  // namespace

void CheckpointStore::create(const h5::File& file, int chains, std::int64_t n, const std::string& fingerprint,
                             std::int64_t metric) {
  auto g = file.require_group("checkpoint");
  g.set_attr("fingerprint", fingerprint);
  g.set_attr("slot", std::int64_t{-1});
  g.set_attr("iterations", std::vector<std::int64_t>(static_cast<std::size_t>(chains), 0));
  const auto C = static_cast<hsize_t>(chains), N = static_cast<hsize_t>(n), M = static_cast<hsize_t>(metric);
  for (int k = 0; k < 2; ++k) {
    const std::string s = slot_name(k);
    for (const char* name : {"position", "welford_mean"}) file.create_dataset<double>(s + "/" + name, {C, N});
    for (const char* name : {"inv_metric", "welford_m2"}) file.create_dataset<double>(s + "/" + name, {C, M});
    file.create_dataset<double>(s + "/reals", {C, n_reals});
    file.create_dataset<std::int64_t>(s + "/integers", {C, n_integers});
    file.create_dataset<std::uint64_t>(s + "/checksum", {C});
  }
}

CheckpointStore::CheckpointStore(const h5::File& file, int chains, std::int64_t n, const std::string& fingerprint,
                                 std::int64_t metric)
    : file_(file), chains_(chains), n_(n), metric_(metric) {
  ATTN_REQUIRE(file.exists("checkpoint"), InputError,
               "cannot resume from '{}': it has no /checkpoint (not a partial samples file?)", file.file_path());
  auto g = file.group("checkpoint");
  const std::string stored = g.attr_string("fingerprint");
  if (stored != fingerprint)
    throw InputError(fmt::format("cannot resume from '{}': its checkpoint was made with different options or data ({})",
                                 file.file_path(), fingerprint_diff(stored, fingerprint)));
  slot_ = static_cast<int>(g.attr_int("slot"));
  ATTN_REQUIRE(slot_ >= -1 && slot_ <= 1, InputError, "cannot resume from '{}': corrupt checkpoint (slot = {})",
               file.file_path(), slot_);
  if (slot_ >= 0) {
    const auto dims = file.dataset(slot_name(slot_) + "/position").dims();
    ATTN_REQUIRE(dims.size() == 2 && dims[0] == static_cast<hsize_t>(chains) && dims[1] == static_cast<hsize_t>(n),
                 InputError, "cannot resume from '{}': checkpoint holds positions of another shape", file.file_path());
  }
}

void CheckpointStore::write(const Comm& world, int chain, const ChainState* state, double seconds) {
  const int next = slot_ == 0 ? 1 : 0;
  const std::string s = slot_name(next);
  std::vector<double> reals;
  std::vector<std::int64_t> ints;
  std::uint64_t sum = 0;
  const bool writer = state != nullptr;
  if (writer) {
    pack(*state, seconds, reals, ints);
    sum = checksum(*state, reals, ints);
  }
  const hsize_t row = static_cast<hsize_t>(chain), N = static_cast<hsize_t>(n_);
  const hsize_t M = static_cast<hsize_t>(metric_);
  auto put = [&](const char* name, const std::vector<double>* v, hsize_t width) {
    const bool has = writer && v && !v->empty();
    file_.dataset(s + "/" + name).write_slab<double>({row, 0}, {has ? 1u : 0u, has ? width : 0u}, has ? v->data() : nullptr);
  };
  put("position", writer ? &state->position : nullptr, N);
  put("inv_metric", writer ? &state->inv_metric : nullptr, M);
  put("welford_mean", writer ? &state->welford_mean : nullptr, N);
  put("welford_m2", writer ? &state->welford_m2 : nullptr, M);
  file_.dataset(s + "/reals").write_slab<double>({row, 0}, {writer ? 1u : 0u, writer ? hsize_t{n_reals} : 0u},
                                                 writer ? reals.data() : nullptr);
  file_.dataset(s + "/integers")
      .write_slab<std::int64_t>({row, 0}, {writer ? 1u : 0u, writer ? hsize_t{n_integers} : 0u},
                                writer ? ints.data() : nullptr);
  file_.dataset(s + "/checksum").write_slab<std::uint64_t>({row}, {writer ? 1u : 0u}, writer ? &sum : nullptr);
  file_.flush();
  // Iterations of every chain (for the attribute, identical on all ranks).
  std::vector<double> mine{writer ? double(state->iteration) : -1.0};
  const std::vector<double> all = world.allgather_blocks(mine);
  std::vector<std::int64_t> iterations(static_cast<std::size_t>(chains_), 0);
  {  // writers (group roots) are gathered in rank order = chain order
    std::size_t c = 0;
    for (double v : all)
      if (v >= 0 && c < iterations.size()) iterations[c++] = static_cast<std::int64_t>(v);
  }
  auto g = file_.group("checkpoint");
  g.set_attr("iterations", iterations);
  g.set_attr("slot", std::int64_t{next});
  file_.flush();
  slot_ = next;
}

ChainState CheckpointStore::read(int chain, double* seconds) const {
  ATTN_REQUIRE(slot_ >= 0, InputError, "'{}' holds no checkpoint yet", file_.file_path());
  const std::string s = slot_name(slot_);
  const hsize_t row = static_cast<hsize_t>(chain), N = static_cast<hsize_t>(n_);
  ChainState st;
  st.position = file_.dataset(s + "/position").read_slab<double>({row, 0}, {1, N});
  const hsize_t M = static_cast<hsize_t>(metric_);
  st.inv_metric = file_.dataset(s + "/inv_metric").read_slab<double>({row, 0}, {1, M});
  const auto reals = file_.dataset(s + "/reals").read_slab<double>({row, 0}, {1, n_reals});
  const auto ints = file_.dataset(s + "/integers").read_slab<std::int64_t>({row, 0}, {1, n_integers});
  const auto sum = file_.dataset(s + "/checksum").read_slab<std::uint64_t>({row}, {1});
  if (ints[13]) {
    st.welford_mean = file_.dataset(s + "/welford_mean").read_slab<double>({row, 0}, {1, N});
    st.welford_m2 = file_.dataset(s + "/welford_m2").read_slab<double>({row, 0}, {1, M});
  }
  st.step_size = reals[0];
  st.step_adaptation.counter = reals[1];
  st.step_adaptation.s_bar = reals[2];
  st.step_adaptation.x_bar = reals[3];
  st.step_adaptation.mu = reals[4];
  st.rng.spare = reals[5];
  if (seconds) *seconds = reals[6];
  st.iteration = ints[0];
  st.window.window_counter = ints[1];
  st.window.window_size = ints[2];
  st.window.next_window = ints[3];
  st.window.samples = ints[4];
  st.gradient_evaluations = ints[5];
  st.rng.block = static_cast<std::uint64_t>(ints[6]);
  st.rng.used = static_cast<std::uint32_t>(ints[7]);
  st.rng.has_spare = static_cast<std::uint32_t>(ints[8]);
  for (int i = 0; i < 4; ++i) std::memcpy(&st.rng.buffer[i], &ints[static_cast<std::size_t>(9 + i)], 8);
  if (checksum(st, reals, ints) != sum[0])
    throw InputError(fmt::format("cannot resume from '{}': the checkpoint of chain {} is corrupt (checksum mismatch)",
                                 file_.file_path(), chain));
  return st;
}

}  // namespace attnpaths
