#pragma once
// The plain-data part of the relative-logits contract (relative_logits.h),
// free of Torch so that nvcc compiles the CUDA kernel with it alone.

#include <cstdint>
#include <type_traits>

namespace expsvc::kernels {

enum class TableMode {
  kMaskOnly,   // Attn
  kIndexOnly,  // RelAttn
  kCombined,   // RIPOAttn, CirRelAttn-H: one time and one pitch segment
  kSplit,      // CirRelAttn-S: bar, position, octave, semitone segments
};

struct ChunkColumns {
  int64_t time = 0;      // column of time row 0 (kCombined) or of bar row 0 (kSplit)
  int64_t position = 0;  // kSplit
  int64_t pitch = 0;     // column of pitch row 0 (kCombined) or of octave row 0 (kSplit)
  int64_t semitone = 0;  // kSplit
};

// The sizes and rules every pass shares (see FusedLogitsArgs).
struct RelativeLogitsShape {
  int64_t batch = 0;
  int64_t heads = 0;
  int64_t length = 0;
  int64_t query_chunk = 0;
  TableMode mode = TableMode::kMaskOnly;
  int64_t no_pitch = 0;
  int64_t time_period = 1;
  int64_t pitch_period = 1;
};

// One query chunk's table as the CUDA kernel reads it: [B,H,rows,width]
// with rows = min(query_chunk, L − k·query_chunk).
template <typename T>
struct RelativeLogitsChunk {
  T* table = nullptr;
  int64_t width = 0;
  int64_t time_row_offset = 0;
  ChunkColumns columns;
};
// Passed to the kernels by value (as launch arguments), so plain bytes.
static_assert(std::is_trivially_copyable_v<RelativeLogitsChunk<float>>);

}  // namespace expsvc::kernels
