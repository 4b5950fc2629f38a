// The description and the dimension scales of every dataset of the output files, in one place per
// format (docs/files.md lists the same); each writer passes its table to h5::annotate().
#pragma once

#include <vector>

#include "attnpaths/io/annotate.hpp"

namespace attnpaths {

// `attnpaths theory` output (format "attnpaths-theory") of an L-layer network.
std::vector<h5::DatasetNote> theory_file_notes(int layers);
// The /selection group (temperature selection on the validation set): in a theory file, or the whole
// output of `attnpaths select` (format "attnpaths-selection").
std::vector<h5::DatasetNote> selection_file_notes();
// `attnpaths sample` output (format "attnpaths-samples").
std::vector<h5::DatasetNote> samples_file_notes();
// `attnpaths compare` output (format "attnpaths-compare").
std::vector<h5::DatasetNote> compare_file_notes();
// `attnpaths prune` output (format "attnpaths-prune").
std::vector<h5::DatasetNote> prune_file_notes();

}  // namespace attnpaths
