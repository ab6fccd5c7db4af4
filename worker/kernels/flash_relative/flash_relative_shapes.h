#pragma once
// The plain-data part of the flash relative-attention contract
// (flash_relative.h), free of Torch so that nvcc compiles the kernels with
// it alone.

#include <cstdint>
#include <type_traits>

namespace expsvc::kernels {

// How a pair's columns in the time and pitch score tables are found (the
// music layout's rules). ΔT = t_i − t_j reads column
// (clamp(ΔT div time_period, first_bar, first_bar + num_bars − 1) −
// first_bar)·time_period + ΔT mod time_period; ΔP likewise with octaves,
// and a pair where either token has no pitch reads the zero column
// num_octaves·pitch_period.
struct FlashColumnRules {
  int64_t time_period = 1;
  int64_t first_bar = 0;
  int64_t num_bars = 1;
  int64_t pitch_period = 1;
  int64_t first_octave = 0;
  int64_t num_octaves = 1;

  // The widths of the score tables these rules index.
  constexpr int64_t TimeColumns() const { return num_bars * time_period; }
  constexpr int64_t PitchColumns() const { return num_octaves * pitch_period + 1; }
};

// Sizes and pair rules of one call. Tokens are [B,L]; Q, K, V and the output
// [B,H,L,head_dim], all row-major and contiguous.
struct FlashRelativeShape {
  int64_t batch = 0;
  int64_t heads = 0;
  int64_t length = 0;
  int64_t head_dim = 0;
  // Rows of the index embedding; distance i−j reads row min(i−j, rows−1).
  // 0: no index term (Attn).
  int64_t index_rows = 0;
  // Columns of the time and pitch score tables ([B,H,L,columns], Q times the
  // kind's time and pitch rows; rules.TimeColumns() and PitchColumns()).
  // 0: no time/pitch terms.
  int64_t time_columns = 0;
  int64_t pitch_columns = 0;
  FlashColumnRules rules;
  // Dropout on the attention weights: pair (b,h,i,j) is kept when a hash of
  // (seed, b, h, i, j) says so, with probability 1 − dropout; the backward
  // recomputes the same decision instead of storing a mask.
  double dropout = 0.0;
  uint64_t seed = 0;
};
static_assert(std::is_trivially_copyable_v<FlashRelativeShape>);

// The inputs, as device (CUDA) or host (CPU pass) pointers.
template <typename T>
struct FlashRelativeInputs {
  const T* q = nullptr;  // already scaled by 1/√head_dim
  const T* k = nullptr;
  const T* v = nullptr;
  const T* index_embedding = nullptr;  // [index_rows, head_dim], shared by heads
  const T* time_table = nullptr;       // [B,H,L,time_columns]
  const T* pitch_table = nullptr;      // [B,H,L,pitch_columns]
  const int64_t* times = nullptr;      // [B,L], with the time table
  const int64_t* pitches = nullptr;    // [B,L], with the pitch table
  const bool* has_pitch = nullptr;     // [B,L], with the pitch table
  const bool* padding = nullptr;       // [B,L] or null: padding keys are hidden (a padding query sees itself)
};
static_assert(std::is_trivially_copyable_v<FlashRelativeInputs<float>>);

// The backward's inputs and outputs. Every output is written whole except
// the score tables' gradients, which the caller zeroes (the pass adds to
// the columns each row's pairs use).
template <typename T>
struct FlashRelativeGrads {
  const T* out = nullptr;       // the forward's output
  const T* lse = nullptr;       // [B,H,L]: the forward's log-sum-exp per query row
  const T* grad_out = nullptr;  // [B,H,L,head_dim]
  const T* delta = nullptr;     // [B,H,L]: Σ_d grad_out·out, per query row
  T* grad_q = nullptr;
  T* grad_k = nullptr;
  T* grad_v = nullptr;
  // [B,H,min(index_rows, L),head_dim]: each (b,h)'s share of the index
  // embedding's gradient (the caller sums them).
  T* grad_index_partial = nullptr;
  T* grad_time_table = nullptr;   // [B,H,L,time_columns], zeroed by the caller
  T* grad_pitch_table = nullptr;  // [B,H,L,pitch_columns], zeroed by the caller
};
static_assert(std::is_trivially_copyable_v<FlashRelativeGrads<float>>);

// Head sizes the kernels are instantiated for (registers hold a row).
inline constexpr bool FlashRelativeHeadDimSupported(int64_t head_dim) {
  return head_dim == 8 || head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128;
}

}  // namespace expsvc::kernels
