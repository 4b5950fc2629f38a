// Buffer<T> (core/buffer.hpp): large allocations start on a 2 MB boundary, are advised onto
// transparent huge pages, and resize_buffer drops old values instead of copying them.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "attnpaths/core/buffer.hpp"

namespace attnpaths {
namespace {

// The kernel's transparent-huge-page mode: "always", "madvise" or "never" ("" if unknown).
std::string thp_mode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(in, line);
  const auto open = line.find('['), close = line.find(']');
  return open == std::string::npos || close == std::string::npos ? "" : line.substr(open + 1, close - open - 1);
}

// The THPeligible flag of the mapping that holds `p` in /proc/self/smaps (-1: not found).
int thp_eligible(const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= a && a < hi;
      continue;
    }
    if (inside && line.rfind("THPeligible:", 0) == 0) return std::stoi(line.substr(12));
  }
  return -1;
}

TEST(Buffer, LargeAllocationsAreAlignedAndAdvisedOntoHugePages) {
  Buffer<double> big(3 * (huge_page_bytes / sizeof(double)) / 2);  // 3 MB
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(big.data()) % huge_page_bytes, 0u);
  const std::string mode = thp_mode();
  const int eligible = thp_eligible(big.data());  // -1: a kernel without the field
  if ((mode == "madvise" || mode == "always") && eligible >= 0) {
    EXPECT_EQ(eligible, 1) << "THP mode " << mode;
  }
  Buffer<double> small(1000);  // below 1 MB: malloc's
  EXPECT_EQ(small.size(), 1000u);
  for (double v : small) EXPECT_EQ(v, 0.0);
}

TEST(Buffer, ResizeBufferDropsOldValuesOnlyWhenGrowing) {
  Buffer<double> b(10, 1.0);
  resize_buffer(b, 5);  // shrinking keeps the memory and the first values
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b[4], 1.0);
  const double* before = b.data();
  resize_buffer(b, 8);  // within the capacity: same memory
  EXPECT_EQ(b.data(), before);
  resize_buffer(b, 1 << 20);  // growing: new memory, zero-filled, no copy of the old values
  ASSERT_EQ(b.size(), std::size_t{1} << 20);
  EXPECT_EQ(b[0], 0.0);
  EXPECT_EQ(b.back(), 0.0);
}

}  // namespace
}  // namespace attnpaths
