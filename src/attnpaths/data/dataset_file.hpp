// Dataset files (io.md §1; docs/data.md): reading with full validation, and writing.
#pragma once

#include <functional>
#include <string>

#include "attnpaths/core/comm.hpp"
#include "attnpaths/core/config.hpp"
#include "attnpaths/core/timer.hpp"
#include "attnpaths/data/dataset.hpp"
#include "attnpaths/io/hdf5.hpp"

namespace attnpaths {

// Reads a dataset file on `comm` (collective). Each rank reads only its block of rows
// (block_range) of /train, /test, /validation (optional) and every /ood/<name>; the attention
// weights are replicated. Validates the root attributes, every shape, the attention attributes,
// styles and weight shapes, the optional path_labels, and that x, y and the weights are finite.
// Every rank throws the same InputError naming the file, the dataset and what was expected.
Dataset read_dataset(const std::string& path, const Comm& comm);

// Writes `d` in the io.md §1 layout plus /config and /provenance (io/run_record.hpp), as
// `<path>.partial` renamed to `path` on success (collective; each rank writes its own rows).
// `extra` (optional) writes task-specific groups (e.g. /episodes, /bank) into the open file before
// /config; it must close every handle it opens.
void write_dataset(const std::string& path, const Dataset& d, const Comm& comm, const Config& config,
                   const Provenance& prov, const StageTimers& timers,
                   const std::function<void(const h5::File&)>& extra = {});

}  // namespace attnpaths
