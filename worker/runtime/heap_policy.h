#pragma once
// Where the worker's large tensors live. glibc hands every allocation above
// its mmap threshold (at most 32 MiB) a fresh mmap, and unmaps it on free; an
// L×L attention map at L = 1024 (8 heads, float) is exactly 32 MiB, so each
// training step faulted its big tensors in page by page. On the VMs we run
// on a fault costs microseconds: one attention layer's forward and backward
// took 250 ms, 65 ms of it compute. Kept in the heap, the same memory serves
// every step. Jobs run on their own threads, whose arenas cannot hold such
// blocks, so one arena serves all.

namespace expsvc::worker {

// Large allocations from the heap, one arena, the heap's top kept up to
// 1 GiB. Call first thing in main(), before any thread starts. Setting
// EXPSVC_SYSTEM_MALLOC=1 keeps glibc's defaults. Returns whether it applied.
bool KeepLargeAllocationsInHeap();

// What a log or bench header says about it, given that return value.
const char* HeapPolicyDescription(bool kept_in_heap);

// Gives free heap memory back to the system: between jobs, so an idle worker
// does not sit on its last job's peak.
void ReturnFreeHeapMemory();

}  // namespace expsvc::worker
