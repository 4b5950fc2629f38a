#include "attnpaths/results/result_file.hpp"

#include "attnpaths/core/error.hpp"

namespace attnpaths {

void require_finished_output(const std::string& path, const char* kind) {
  const std::string suffix = ".partial";
  ATTN_REQUIRE(path.size() < suffix.size() || path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0,
               InputError, "'{}' is an unfinished {} run (a .partial file holds no final results); finish it with --resume",
               path, kind);
}

void require_format(const h5::File& file, const std::string& path, const std::string& format) {
  ATTN_REQUIRE(file.has_attr("format") && file.attr_string("format") == format, InputError,
               "'{}' is not a {} file (root attribute format != \"{}\")", path,
               format.substr(format.find('-') + 1), format);
}

}  // namespace attnpaths
