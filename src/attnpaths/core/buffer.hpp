// Large numeric buffers that are written before they are read: a block of examples, the path inputs,
// a checksum's chunk. On a machine whose fresh memory is expensive to touch (a virtual machine here
// pays ~6–10 µs per 4 kB page the first time) such a buffer costs more to fault in than to fill.
// Buffer<T> places allocations of 1 MB or more on whole 2 MB pages and asks for transparent huge
// pages before the first touch: one fault instead of up to 512. Where THP is "never" the advice does
// nothing; where it is "always" it is the default (docs/benchmarks.md, the list under "The default sweep").
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace attnpaths {

inline constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;

// Memory for `bytes` bytes: from 1 MB up, whole 2 MB pages mapped for it alone and advised as huge
// pages; below, malloc's. Throws std::bad_alloc. Release with release_huge_pages and the same `bytes`.
void* allocate_on_huge_pages(std::size_t bytes);
void release_huge_pages(void* p, std::size_t bytes) noexcept;

// The size of the last allocation that failed (0: none), for the command's out-of-memory message (exit
// code 7): noted by allocate_on_huge_pages and by the command's operator new.
void note_failed_allocation(std::size_t bytes) noexcept;
std::size_t last_failed_allocation() noexcept;

template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_on_huge_pages(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { release_huge_pages(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const HugePageAllocator<U>&) const noexcept { return false; }
};

template <class T>
using Buffer = std::vector<T, HugePageAllocator<T>>;

// `v` gets `n` elements for new values: growing drops the old ones instead of copying them over.
template <class V>
void resize_buffer(V& v, std::size_t n) {
  if (v.capacity() < n) V().swap(v);
  v.resize(n);
}

}  // namespace attnpaths
