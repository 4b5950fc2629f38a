// Self-describing outputs: a `description` attribute on every dataset and HDF5 dimension scales
// (H5DS) on its axes — widths, temperatures, paths, examples, chains, draws — so that h5py
// (`ds.dims[i][0]`) and xarray/h5netcdf users can read a file without the docs (docs/files.md).
// Every writer (theory, sample, compare, data) calls annotate() once, on the finished file.
#pragma once

#include <string>
#include <vector>

#include "attnpaths/io/hdf5.hpp"

namespace attnpaths::h5 {

// What the datasets matching `path` hold. `path` is absolute; a '*' component matches any one name,
// and "{1}", "{2}", … in `description` and `scales` stand for the names the stars matched.
// `scales` has one entry per dimension (or is empty): "" = no scale; "/a/path" = that existing 1-D
// dataset; "#name" = the scale /scales/<name>, created on first use as the index 0 … n−1 of the
// dimension ("#paths": the path labels, when annotate() is given them).
struct DatasetNote {
  std::string path;
  std::string description;
  std::vector<std::string> scales = {};
};

// Collective (every rank passes the same arguments), on a file open for writing. Sets `description` and attaches the scales of
// the first matching note on every dataset under `root`; the scale datasets become H5DS scales named
// by their last path component. Returns the datasets that no note matched (writers' tests check it
// is empty). Throws LibraryError if a scale's length differs from the dimension it labels.
std::vector<std::string> annotate(const File& root, const std::vector<DatasetNote>& notes,
                                  const std::vector<std::string>& path_labels = {});

}  // namespace attnpaths::h5
