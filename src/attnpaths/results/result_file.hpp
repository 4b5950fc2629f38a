// What every result file (theory, samples, compare, selection) shares: its format stamp and the
// checks a reader makes before trusting it.
#pragma once

#include <string>

#include "attnpaths/io/hdf5.hpp"

namespace attnpaths {

// A finished output of `kind` ("theory", "samples", ...): never the FILE.partial of an unfinished run.
void require_finished_output(const std::string& path, const char* kind);
// The root attribute `format` is `format` (e.g. "attnpaths-theory"); InputError naming the file otherwise.
void require_format(const h5::File& file, const std::string& path, const std::string& format);

}  // namespace attnpaths
