#include "worker/runtime/heap_policy.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "gtest/gtest.h"

namespace expsvc::worker {
namespace {

// Just over glibc's largest mmap threshold: an attention map at L = 1024.
constexpr size_t kBlock = (32u << 20) + 64;

// One process, one policy (hence a test binary of its own).
TEST(HeapPolicyTest, LargeBlocksOfJobThreadsComeFromTheHeapAndGoBackWhenIdle) {
  ASSERT_TRUE(KeepLargeAllocationsInHeap());
  for (int step = 0; step < 2; ++step) {
    // On a thread of its own, as a job runs.
    std::thread job([] {
      char* block = static_cast<char*>(std::malloc(kBlock));
      std::memset(block, 1, kBlock);
      const struct mallinfo2 held = mallinfo2();
      EXPECT_EQ(held.hblkhd, 0u) << "the block was mmapped: freeing it would unmap it";
      EXPECT_GE(held.arena, kBlock) << "the block is not in the main heap";
      std::free(block);
    });
    job.join();
    // Freed, it stays for the next step.
    EXPECT_GE(mallinfo2().fordblks, kBlock);
  }
  ReturnFreeHeapMemory();
  EXPECT_LT(mallinfo2().arena, kBlock) << "the idle heap still holds the block";
}

}  // namespace
}  // namespace expsvc::worker
