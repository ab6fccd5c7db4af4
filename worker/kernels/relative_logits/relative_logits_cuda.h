#pragma once
// The relative-logits pass (relative_logits.h) as CUDA kernels against raw
// device pointers and a stream, so they build with nvcc alone; the Torch
// side (relative_logits_torch.cc) calls them with its tensors' pointers.
// The contract is the plain-loop reference's (relative_logits_reference.h),
// which the gpu-labelled test compares them with.
//
// Every data pointer is device memory, row-major and contiguous: logits and
// grad [B,H,L,L]; blocked [B,L,L] (bool); time_row, pitch_row [B,L,L]
// (int64, null in kMaskOnly and kIndexOnly). `chunks` is a HOST array of
// ⌈L / query_chunk⌉ descriptors (none in kMaskOnly) whose `table` pointers
// are device memory: the kernels take up to kChunksPerLaunch of them as
// launch arguments, so no copy to the device and no stream sync is needed
// (longer sequences take one launch per group of chunks). Each call checks
// the shape, launches and returns the launch's error.

#include <cuda_runtime_api.h>

#include "worker/kernels/relative_logits/relative_logits_shapes.h"

namespace expsvc::kernels {

// Chunk descriptors one launch takes (48 × 56 bytes stays inside the 4 KiB
// of kernel arguments every CUDA version allows).
inline constexpr int kChunksPerLaunch = 48;

// logits (in place) += the terms of each visible pair (j ≤ i, not blocked);
// −inf elsewhere. One block per query row (b, i), threads over keys j, the
// pair's rows read once for all heads. The terms are summed in the CPU
// pass's order.
template <typename T>
cudaError_t RelativeLogitsForwardCuda(T* logits, const RelativeLogitsChunk<T>* chunks, int64_t num_chunks,
                                      const bool* blocked, const int64_t* time_row, const int64_t* pitch_row,
                                      const RelativeLogitsShape& shape, cudaStream_t stream);

// Each chunk table's gradient (written whole: chunks[k].table points at the
// gradient buffers) from the logits' gradient. One block per (b, h, i): the
// row's gradient is gathered in shared memory, where the time and pitch
// columns take atomic adds, then written out once (rows wider than 48 KiB
// add in global memory instead). Nothing to do in kMaskOnly.
template <typename T>
cudaError_t RelativeLogitsBackwardCuda(const T* grad, const RelativeLogitsChunk<T>* chunks, int64_t num_chunks,
                                       const bool* blocked, const int64_t* time_row, const int64_t* pitch_row,
                                       const RelativeLogitsShape& shape, cudaStream_t stream);

}  // namespace expsvc::kernels
