// The relative-logits kernels (relative_logits_cuda.h). Element-wise over the
// L×L logits like the CPU pass: each visible pair reads its index, time and
// pitch columns from its query chunk's table.

#include <algorithm>

#include <cuda/std/limits>

#include "worker/kernels/relative_logits/relative_logits_cuda.h"

namespace expsvc::kernels {
namespace {

constexpr int kThreads = 256;
// Rows of the backward that fit in the default 48 KiB of shared memory take
// their atomic adds there; wider ones (L beyond ~10,000) add in global memory.
constexpr size_t kSharedBytes = 48 * 1024;

// The chunks of one launch, by value: query rows [first_row, end_row) of
// chunks [first_chunk, first_chunk + count).
template <typename T>
struct ChunkGroup {
  RelativeLogitsChunk<T> chunk[kChunksPerLaunch];
  int64_t first_chunk = 0;
  int64_t first_row = 0;
  int64_t end_row = 0;
};

__host__ __device__ inline bool HasRows(TableMode mode) {
  return mode == TableMode::kCombined || mode == TableMode::kSplit;
}

// The table columns pair (i, j) reads: the index distance first, then
// (time, pitch) or (bar, position[, octave, semitone]).
struct PairColumns {
  int64_t column[5];
  int count = 0;
};

template <typename T>
__device__ __forceinline__ PairColumns ColumnsOf(const RelativeLogitsChunk<T>& c, const RelativeLogitsShape& s,
                                                 int64_t distance, int64_t t, int64_t p) {
  PairColumns out;
  out.column[out.count++] = distance;
  if (s.mode == TableMode::kCombined) {
    out.column[out.count++] = c.columns.time - c.time_row_offset + t;
    out.column[out.count++] = c.columns.pitch + p;
  } else if (s.mode == TableMode::kSplit) {
    const int64_t r = t - c.time_row_offset;
    out.column[out.count++] = c.columns.time + r / s.time_period;
    out.column[out.count++] = c.columns.position + r % s.time_period;
    if (p < s.no_pitch) {
      out.column[out.count++] = c.columns.pitch + p / s.pitch_period;
      out.column[out.count++] = c.columns.semitone + p % s.pitch_period;
    }
  }
  return out;
}

// grid: one block per (b, query row of the group); threads over keys.
template <typename T>
__global__ void ForwardKernel(T* logits, const ChunkGroup<T> group, const bool* blocked, const int64_t* time_row,
                              const int64_t* pitch_row, RelativeLogitsShape s) {
  const int64_t L = s.length;
  const int64_t group_rows = group.end_row - group.first_row;
  const int64_t b = blockIdx.x / group_rows;
  const int64_t i = group.first_row + blockIdx.x % group_rows;
  const int64_t k = i / s.query_chunk;
  const int64_t rows = min(s.query_chunk, L - k * s.query_chunk);
  const int64_t local = i - k * s.query_chunk;
  const int64_t pair_row = (b * L + i) * L;
  const bool with_tables = s.mode != TableMode::kMaskOnly;
  const bool rows_used = HasRows(s.mode);
  const RelativeLogitsChunk<T>* c = with_tables ? &group.chunk[k - group.first_chunk] : nullptr;
  const T minus_infinity = -cuda::std::numeric_limits<T>::infinity();
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
    const bool hidden = j > i || blocked[pair_row + j];
    PairColumns columns;
    if (!hidden && with_tables) {
      columns =
          ColumnsOf(*c, s, i - j, rows_used ? time_row[pair_row + j] : 0, rows_used ? pitch_row[pair_row + j] : 0);
    }
    for (int64_t h = 0; h < s.heads; ++h) {
      T* out = logits + ((b * s.heads + h) * L + i) * L + j;
      if (hidden) {
        *out = minus_infinity;
      } else if (with_tables) {
        const T* table = c->table + ((b * s.heads + h) * rows + local) * c->width;
        // Grouped as the CPU pass adds them: (content + index) + (time + pitch),
        // or + (bar + position) + (octave + semitone).
        T value = *out + table[columns.column[0]];
        if (columns.count >= 3) value += table[columns.column[1]] + table[columns.column[2]];
        if (columns.count == 5) value += table[columns.column[3]] + table[columns.column[4]];
        *out = value;
      }
    }
  }
}

// grid: one block per table row (b, h, query row of the group).
template <typename T, bool kShared>
__global__ void BackwardKernel(const T* grad, const ChunkGroup<T> group, const bool* blocked, const int64_t* time_row,
                               const int64_t* pitch_row, RelativeLogitsShape s) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  const int64_t L = s.length;
  const int64_t group_rows = group.end_row - group.first_row;
  const int64_t bh = blockIdx.x / group_rows;
  const int64_t b = bh / s.heads;
  const int64_t i = group.first_row + blockIdx.x % group_rows;
  const int64_t k = i / s.query_chunk;
  const int64_t rows = min(s.query_chunk, L - k * s.query_chunk);
  const int64_t local = i - k * s.query_chunk;
  const RelativeLogitsChunk<T>& c = group.chunk[k - group.first_chunk];
  T* out_row = c.table + (bh * rows + local) * c.width;
  T* sums = kShared ? reinterpret_cast<T*>(shared_bytes) : out_row;
  for (int64_t n = threadIdx.x; n < c.width; n += blockDim.x) sums[n] = T(0);
  __syncthreads();
  const T* g_row = grad + (bh * L + i) * L;
  const int64_t pair_row = (b * L + i) * L;
  const bool rows_used = HasRows(s.mode);
  for (int64_t j = threadIdx.x; j <= i; j += blockDim.x) {
    if (blocked[pair_row + j]) continue;
    const T g = g_row[j];
    const PairColumns columns =
        ColumnsOf(c, s, i - j, rows_used ? time_row[pair_row + j] : 0, rows_used ? pitch_row[pair_row + j] : 0);
    // Distance i − j belongs to this j alone; the other columns are shared.
    sums[columns.column[0]] = g;
    for (int n = 1; n < columns.count; ++n) atomicAdd(&sums[columns.column[n]], g);
  }
  if constexpr (kShared) {
    __syncthreads();
    for (int64_t n = threadIdx.x; n < c.width; n += blockDim.x) out_row[n] = sums[n];
  }
}

bool ValidShape(const RelativeLogitsShape& s, const void* chunks, int64_t num_chunks, const int64_t* time_row,
                const int64_t* pitch_row) {
  if (s.batch <= 0 || s.heads <= 0 || s.length <= 0 || s.query_chunk <= 0) return false;
  if (s.mode != TableMode::kMaskOnly &&
      (chunks == nullptr || num_chunks != (s.length + s.query_chunk - 1) / s.query_chunk)) {
    return false;
  }
  if (HasRows(s.mode) && (time_row == nullptr || pitch_row == nullptr)) return false;
  if (s.mode == TableMode::kSplit && (s.time_period <= 0 || s.pitch_period <= 0)) return false;
  return true;
}

// Calls launch(group, blocks_per_row_set) for each group of up to
// kChunksPerLaunch chunks (one group over every row in kMaskOnly).
template <typename T, typename Launch>
cudaError_t ForEachGroup(const RelativeLogitsChunk<T>* chunks, int64_t num_chunks, const RelativeLogitsShape& s,
                         Launch launch) {
  const int64_t groups = s.mode == TableMode::kMaskOnly ? 1 : (num_chunks + kChunksPerLaunch - 1) / kChunksPerLaunch;
  for (int64_t g = 0; g < groups; ++g) {
    ChunkGroup<T> group;
    if (s.mode == TableMode::kMaskOnly) {
      group.end_row = s.length;
    } else {
      group.first_chunk = g * kChunksPerLaunch;
      const int64_t count = std::min<int64_t>(kChunksPerLaunch, num_chunks - group.first_chunk);
      std::copy(chunks + group.first_chunk, chunks + group.first_chunk + count, group.chunk);
      group.first_row = group.first_chunk * s.query_chunk;
      group.end_row = std::min(s.length, (group.first_chunk + count) * s.query_chunk);
    }
    launch(group, group.end_row - group.first_row);
    if (const cudaError_t error = cudaGetLastError(); error != cudaSuccess) return error;
  }
  return cudaSuccess;
}

}  // namespace

template <typename T>
cudaError_t RelativeLogitsForwardCuda(T* logits, const RelativeLogitsChunk<T>* chunks, int64_t num_chunks,
                                      const bool* blocked, const int64_t* time_row, const int64_t* pitch_row,
                                      const RelativeLogitsShape& shape, cudaStream_t stream) {
  if (!ValidShape(shape, chunks, num_chunks, time_row, pitch_row) || logits == nullptr || blocked == nullptr) {
    return cudaErrorInvalidValue;
  }
  return ForEachGroup(chunks, num_chunks, shape, [&](const ChunkGroup<T>& group, int64_t rows) {
    ForwardKernel<T><<<shape.batch * rows, kThreads, 0, stream>>>(logits, group, blocked, time_row, pitch_row, shape);
  });
}

template <typename T>
cudaError_t RelativeLogitsBackwardCuda(const T* grad, const RelativeLogitsChunk<T>* chunks, int64_t num_chunks,
                                       const bool* blocked, const int64_t* time_row, const int64_t* pitch_row,
                                       const RelativeLogitsShape& shape, cudaStream_t stream) {
  if (shape.mode == TableMode::kMaskOnly) return cudaSuccess;  // no tables, nothing to write
  if (!ValidShape(shape, chunks, num_chunks, time_row, pitch_row) || grad == nullptr || blocked == nullptr) {
    return cudaErrorInvalidValue;
  }
  int64_t max_width = 0;
  for (int64_t k = 0; k < num_chunks; ++k) max_width = std::max(max_width, chunks[k].width);
  const size_t bytes = static_cast<size_t>(max_width) * sizeof(T);
  return ForEachGroup(chunks, num_chunks, shape, [&](const ChunkGroup<T>& group, int64_t rows) {
    const int64_t blocks = shape.batch * shape.heads * rows;
    if (bytes <= kSharedBytes) {
      BackwardKernel<T, true><<<blocks, kThreads, bytes, stream>>>(grad, group, blocked, time_row, pitch_row, shape);
    } else {
      BackwardKernel<T, false><<<blocks, kThreads, 0, stream>>>(grad, group, blocked, time_row, pitch_row, shape);
    }
  });
}

template cudaError_t RelativeLogitsForwardCuda<float>(float*, const RelativeLogitsChunk<float>*, int64_t, const bool*,
                                                      const int64_t*, const int64_t*, const RelativeLogitsShape&,
                                                      cudaStream_t);
template cudaError_t RelativeLogitsForwardCuda<double>(double*, const RelativeLogitsChunk<double>*, int64_t,
                                                       const bool*, const int64_t*, const int64_t*,
                                                       const RelativeLogitsShape&, cudaStream_t);
template cudaError_t RelativeLogitsBackwardCuda<float>(const float*, const RelativeLogitsChunk<float>*, int64_t,
                                                       const bool*, const int64_t*, const int64_t*,
                                                       const RelativeLogitsShape&, cudaStream_t);
template cudaError_t RelativeLogitsBackwardCuda<double>(const double*, const RelativeLogitsChunk<double>*, int64_t,
                                                        const bool*, const int64_t*, const int64_t*,
                                                        const RelativeLogitsShape&, cudaStream_t);

}  // namespace expsvc::kernels
