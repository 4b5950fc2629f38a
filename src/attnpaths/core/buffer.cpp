#include "attnpaths/core/buffer.hpp"

#include <sys/mman.h>

namespace attnpaths {

void* allocate_on_huge_pages(std::size_t bytes) {
  void* p = nullptr;
  if (bytes < huge_page_bytes / 2) {
    p = std::malloc(bytes == 0 ? 1 : bytes);
  } else {
    const std::size_t rounded = (bytes + huge_page_bytes - 1) / huge_page_bytes * huge_page_bytes;
    p = std::aligned_alloc(huge_page_bytes, rounded);
#ifdef MADV_HUGEPAGE
    if (p != nullptr) (void)madvise(p, rounded, MADV_HUGEPAGE);  // advice only: a failure changes nothing
#endif
  }
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace attnpaths
