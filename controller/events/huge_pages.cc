#include "controller/events/huge_pages.h"

#include <sys/mman.h>

#include <cstdlib>

namespace kc::audit {

void* allocateTable(std::size_t bytes) {
  if (bytes < kHugePageBytes) {
    void* p = std::malloc(bytes == 0 ? 1 : bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  const std::size_t rounded = (bytes + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  void* p = std::aligned_alloc(kHugePageBytes, rounded);
  if (p == nullptr) throw std::bad_alloc();
  // Before the first touch, so that the first fault of each 2 MiB can map a huge page.
  (void)madvise(p, rounded, MADV_HUGEPAGE);
  return p;
}

void freeTable(void* p, std::size_t /*bytes*/) noexcept { std::free(p); }

}  // namespace kc::audit
