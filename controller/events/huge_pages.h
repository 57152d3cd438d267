#pragma once
// An allocator for big tables that are read at random (the audit deduper's key set, the object
// tracker's records and indexes): allocations of 2 MiB and more are 2 MiB-aligned and advised
// to use transparent huge pages before they are first touched, so that a lookup does not also
// miss the TLB. Smaller ones come from the ordinary heap. Where THP is off ("never"), the
// advice is ignored and the memory behaves as usual.
//
// Memory is committed as it is touched either way; with huge pages it is committed in 2 MiB
// steps, so a table costs at most 2 MiB more than its size.

#include <cstddef>
#include <memory>
#include <new>

namespace kc::audit {

// Raw storage for `bytes` bytes: huge-page advised when bytes >= kHugePageBytes.
void* allocateTable(std::size_t bytes);
void freeTable(void* p, std::size_t bytes) noexcept;
inline constexpr std::size_t kHugePageBytes = 2u << 20;

template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(allocateTable(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { freeTable(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace kc::audit
