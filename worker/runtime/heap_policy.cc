#include "worker/runtime/heap_policy.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace expsvc::worker {

bool KeepLargeAllocationsInHeap() {
  const char* system = std::getenv("EXPSVC_SYSTEM_MALLOC");
  if (system != nullptr && std::strcmp(system, "1") == 0) return false;
  constexpr int kKeepTopBytes = 1 << 30;
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_ARENA_MAX, 1) == 1 && mallopt(M_TRIM_THRESHOLD, kKeepTopBytes) == 1;
}

const char* HeapPolicyDescription(bool kept_in_heap) {
  return kept_in_heap ? "large blocks kept in one heap (the worker's policy)"
                      : "glibc defaults (EXPSVC_SYSTEM_MALLOC=1): large blocks are mapped and unmapped each time";
}

void ReturnFreeHeapMemory() {
  malloc_trim(0);
}

}  // namespace expsvc::worker
