#include "attnpaths/core/buffer.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>

namespace attnpaths {
namespace {

std::atomic<std::size_t> failed_allocation{0};

bool on_huge_pages(std::size_t bytes) { return bytes >= huge_page_bytes / 2; }

std::size_t whole_huge_pages(std::size_t bytes) { return (bytes + huge_page_bytes - 1) / huge_page_bytes * huge_page_bytes; }

}  // namespace

// Large buffers are mapped on their own (not taken from malloc's heap): freed, they go back to the
// system, so no later small allocation lands in a range advised onto huge pages and costs a whole 2 MB
// page (what made the peak memory triple when the advice was tried on every allocation).
void* allocate_on_huge_pages(std::size_t bytes) {
  if (!on_huge_pages(bytes)) {
    void* p = std::malloc(bytes == 0 ? 1 : bytes);
    if (p == nullptr) {
      note_failed_allocation(bytes);
      throw std::bad_alloc();
    }
    return p;
  }
  const std::size_t size = whole_huge_pages(bytes), mapped = size + huge_page_bytes;
  void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    note_failed_allocation(bytes);
    throw std::bad_alloc();
  }
  // Keep the 2 MB-aligned `size` bytes inside and unmap the rest.
  const auto begin = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (begin + huge_page_bytes - 1) & ~(std::uintptr_t{huge_page_bytes} - 1);
  if (aligned > begin) munmap(raw, aligned - begin);
  const std::uintptr_t tail = aligned + size, end = begin + mapped;
  if (end > tail) munmap(reinterpret_cast<void*>(tail), end - tail);
#ifdef MADV_HUGEPAGE
  (void)madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);  // advice only: a failure changes nothing
#endif
  return reinterpret_cast<void*>(aligned);
}

void release_huge_pages(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
  if (on_huge_pages(bytes))
    munmap(p, whole_huge_pages(bytes));
  else
    std::free(p);
}

void note_failed_allocation(std::size_t bytes) noexcept { failed_allocation = bytes; }
std::size_t last_failed_allocation() noexcept { return failed_allocation.load(); }

}  // namespace attnpaths
