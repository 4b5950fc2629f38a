// Sizes and indices: counts are std::int64_t throughout (examples, weights), containers want
// std::size_t. Include from .cpp files.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attnpaths {

// A non-negative count or index as std::size_t.
inline std::size_t sz(std::int64_t n) { return static_cast<std::size_t>(n); }

}  // namespace attnpaths
