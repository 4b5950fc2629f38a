#include "attnpaths/io/annotate.hpp"

#include <hdf5_hl.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <numeric>

#include "attnpaths/core/error.hpp"

namespace attnpaths::h5 {
namespace {

std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < p.size()) {
    size_t next = p.find('/', pos);
    if (next == std::string::npos) next = p.size();
    if (next > pos) parts.push_back(p.substr(pos, next - pos));
    pos = next + 1;
  }
  return parts;
}

// Matches `pattern` against `path` component by component; the names matched by '*' go to `stars`.
bool matches(const std::string& pattern, const std::string& path, std::vector<std::string>& stars) {
  const auto want = split_path(pattern), have = split_path(path);
  if (want.size() != have.size()) return false;
  stars.clear();
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] == "*") {
      stars.push_back(have[i]);
    } else if (want[i] != have[i]) {
      return false;
    }
  }
  return true;
}

std::string substitute(std::string s, const std::vector<std::string>& stars) {
  for (size_t i = 0; i < stars.size(); ++i) {
    const std::string key = fmt::format("{{{}}}", i + 1);
    for (size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + stars[i].size()))
      s.replace(at, key.size(), stars[i]);
  }
  return s;
}

// Every dataset under `loc`, depth first in name order (the same on every rank).
void list_datasets(const Location& loc, std::vector<std::string>& out) {
  for (const auto& child : loc.children()) {
    if (loc.is_group(child)) {
      list_datasets(loc.group(child), out);
    } else {
      out.push_back(loc.name() == "/" ? "/" + child : loc.name() + "/" + child);
    }
  }
}

// Opens (creating when needed) the scale named by `spec` for a dimension of length n.
// (the scales created here describe themselves).
std::string require_scale(const File& root, const std::string& spec, hsize_t n,
                          const std::vector<std::string>& path_labels) {
  if (spec[0] == '/') return spec;
  const std::string name = spec.substr(1), path = "/scales/" + name;
  if (root.exists(path)) return path;
  std::string what;
  if (name == "paths" && path_labels.size() == n) {
    root.write_strings(path, {n}, path_labels);  // fixed-length strings, rank 0 writes
    what = "labels of the attention paths, in path order (the head of layer 1 varies slowest)";
  } else {
    std::vector<std::int64_t> index(n);
    std::iota(index.begin(), index.end(), std::int64_t{0});
    root.write<std::int64_t>(path, {n}, index);
    what = fmt::format("index 0 … {} of the {} dimension", n - 1, name);
  }
  root.dataset(path).attributes().set_attr("description", what);
  return path;
}

void make_scale(const Dataset& scale, const std::string& path) {
  if (H5DSis_scale(scale.get()) > 0) return;
  const std::string name = split_path(path).back();
  if (H5DSset_scale(scale.get(), name.c_str()) < 0)
    throw LibraryError(fmt::format("HDF5: cannot make '{}' a dimension scale in '{}'", path, scale.file_path()));
}

void attach(const File& root, const Dataset& d, const std::string& path, const std::vector<std::string>& scales,
            const std::vector<std::string>& path_labels) {
  const Dims dims = d.dims();
  for (size_t i = 0; i < scales.size() && i < dims.size(); ++i) {
    if (scales[i].empty()) continue;
    const std::string sp = require_scale(root, scales[i], dims[i], path_labels);
    if (sp == path) continue;  // a scale is not attached to itself
    Dataset s = root.dataset(sp);
    const Dims sd = s.dims();
    if (sd.size() != 1 || sd[0] != dims[i])
      throw LibraryError(fmt::format("internal: scale '{}' ({} values) does not fit dimension {} of '{}' ({})", sp,
                                     sd.empty() ? 0 : sd[0], i, path, dims[i]));
    make_scale(s, sp);
    if (H5DSattach_scale(d.get(), s.get(), static_cast<unsigned>(i)) < 0)
      throw LibraryError(fmt::format("HDF5: cannot attach scale '{}' to '{}' in '{}'", sp, path, root.file_path()));
  }
}

}  // namespace

std::vector<std::string> annotate(const File& root, const std::vector<DatasetNote>& notes,
                                  const std::vector<std::string>& path_labels) {
  std::vector<std::string> paths, unmatched;
  list_datasets(root, paths);
  std::vector<std::string> stars;
  for (const auto& path : paths) {
    const auto note = std::find_if(notes.begin(), notes.end(),
                                   [&](const DatasetNote& n) { return matches(n.path, path, stars); });
    if (note == notes.end()) {
      unmatched.push_back(path);
      continue;
    }
    std::vector<std::string> scales;
    for (const auto& s : note->scales) scales.push_back(substitute(s, stars));
    Dataset d = root.dataset(path);
    attach(root, d, path, scales, path_labels);
    d.attributes().set_attr("description", substitute(note->description, stars));
  }
  return unmatched;
}

}  // namespace attnpaths::h5
