#pragma once
// The work of one output row of the flash relative attention, written once
// for both passes: the CPU pass (flash_relative_cpu.cc) runs these functions
// in loops, the CUDA kernels (flash_relative.cu) one thread per row. Each
// row streams over its keys (or queries) with an online softmax, so no
// score is ever stored: a row costs registers for a few head_dim-wide
// vectors, and the backward recomputes each pair's score from the saved
// log-sum-exp.
//
//   score(i,j) = q_i·k_j + q_i·E_idx[min(i−j, rows−1)] + QT[i, time col] + QP[i, pitch col]
//
// for visible pairs (j ≤ i, key not padding, or j = i). QT and QP are the
// small score tables (Q times the kind's time and pitch rows), linear in L;
// the index term is a dot product with the embedding row, since its table
// would be L×L.

#include <math.h>

#include <cstdint>

#include "worker/kernels/flash_relative/flash_relative_shapes.h"

#if defined(__CUDACC__)
#define EXPSVC_FLASH_HD __host__ __device__ __forceinline__
#define EXPSVC_FLASH_UNROLL _Pragma("unroll")
#else
#define EXPSVC_FLASH_HD inline
#define EXPSVC_FLASH_UNROLL
#endif

namespace expsvc::kernels::flash_rows {

EXPSVC_FLASH_HD float Exp(float x) {
  return expf(x);
}
EXPSVC_FLASH_HD double Exp(double x) {
  return exp(x);
}
EXPSVC_FLASH_HD float Log(float x) {
  return logf(x);
}
EXPSVC_FLASH_HD double Log(double x) {
  return log(x);
}

EXPSVC_FLASH_HD int64_t FloorDiv(int64_t value, int64_t divisor) {
  const int64_t quotient = value / divisor;
  return (value % divisor != 0 && value < 0) ? quotient - 1 : quotient;
}

EXPSVC_FLASH_HD int64_t Clamp(int64_t value, int64_t low, int64_t high) {
  return value < low ? low : (value > high ? high : value);
}

EXPSVC_FLASH_HD bool Visible(const bool* padding, int64_t length, int64_t b, int64_t i, int64_t j) {
  return j <= i && (j == i || padding == nullptr || !padding[b * length + j]);
}

EXPSVC_FLASH_HD int64_t TimeColumn(const FlashColumnRules& r, int64_t time_i, int64_t time_j) {
  const int64_t delta = time_i - time_j;
  const int64_t bar = FloorDiv(delta, r.time_period);
  const int64_t position = delta - bar * r.time_period;
  return (Clamp(bar, r.first_bar, r.first_bar + r.num_bars - 1) - r.first_bar) * r.time_period + position;
}

EXPSVC_FLASH_HD int64_t PitchColumn(const FlashColumnRules& r, int64_t pitch_i, int64_t pitch_j, bool pitched_i,
                                    bool pitched_j) {
  if (!pitched_i || !pitched_j) return r.num_octaves * r.pitch_period;
  const int64_t delta = pitch_i - pitch_j;
  const int64_t octave = FloorDiv(delta, r.pitch_period);
  const int64_t semitone = delta - octave * r.pitch_period;
  return (Clamp(octave, r.first_octave, r.first_octave + r.num_octaves - 1) - r.first_octave) * r.pitch_period +
         semitone;
}

// splitmix64's finaliser: a counter-based hash, so a pair's dropout decision
// needs no state and comes out the same in the forward and the backward, on
// the CPU and on the GPU.
EXPSVC_FLASH_HD uint64_t Mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Whether pair (bh = b·H + h, i, j) survives dropout.
EXPSVC_FLASH_HD bool Keep(const FlashRelativeShape& s, int64_t bh, int64_t i, int64_t j) {
  if (s.dropout <= 0.0) return true;
  const uint64_t pair = static_cast<uint64_t>((bh * s.length + i) * s.length + j);
  const uint64_t hash = Mix64(s.seed ^ Mix64(pair));
  const double uniform = static_cast<double>(hash >> 11) * (1.0 / 9007199254740992.0);  // [0, 1), 53 bits
  return uniform >= s.dropout;
}

template <typename T, int kDh>
EXPSVC_FLASH_HD void LoadRow(const T* source, T (&row)[kDh]) {
  EXPSVC_FLASH_UNROLL
  for (int d = 0; d < kDh; ++d) row[d] = source[d];
}

template <typename T, int kDh>
EXPSVC_FLASH_HD T Dot(const T (&row)[kDh], const T* other) {
  T sum = 0;
  EXPSVC_FLASH_UNROLL
  for (int d = 0; d < kDh; ++d) sum += row[d] * other[d];
  return sum;
}

template <typename T, int kDh>
EXPSVC_FLASH_HD void AddScaled(T (&row)[kDh], T scale, const T* other) {
  EXPSVC_FLASH_UNROLL
  for (int d = 0; d < kDh; ++d) row[d] += scale * other[d];
}

// Where pair (i, j)'s index row and table columns are; computed once per
// pair and shared by the score and its gradient.
struct PairColumns {
  int64_t index_row = 0;
  int64_t time = 0;
  int64_t pitch = 0;
};

template <typename T>
EXPSVC_FLASH_HD PairColumns Columns(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in, int64_t b, int64_t i,
                                    int64_t j) {
  PairColumns c;
  if (s.index_rows > 0) c.index_row = (i - j < s.index_rows) ? i - j : s.index_rows - 1;
  if (s.time_columns > 0) {
    const int64_t* t = in.times + b * s.length;
    const int64_t* p = in.pitches + b * s.length;
    const bool* pitched = in.has_pitch + b * s.length;
    c.time = TimeColumn(s.rules, t[i], t[j]);
    c.pitch = PitchColumn(s.rules, p[i], p[j], pitched[i], pitched[j]);
  }
  return c;
}

// score(i, j) for query row q (bh, i) and key j.
template <typename T, int kDh>
EXPSVC_FLASH_HD T Score(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in, int64_t bh, int64_t i, int64_t j,
                        const PairColumns& c, const T (&q)[kDh]) {
  const int64_t L = s.length;
  T score = Dot<T, kDh>(q, in.k + (bh * L + j) * kDh);
  if (s.index_rows > 0) score += Dot<T, kDh>(q, in.index_embedding + c.index_row * kDh);
  if (s.time_columns > 0) {
    const int64_t row = bh * L + i;
    score += in.time_table[row * s.time_columns + c.time] + in.pitch_table[row * s.pitch_columns + c.pitch];
  }
  return score;
}

// Forward of query row (bh, i): out_i = Σ_j softmax_j(score)·keep/(1−p)·v_j,
// and the row's log-sum-exp for the backward.
template <typename T, int kDh>
EXPSVC_FLASH_HD void ForwardRow(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in, T* out, T* lse,
                                int64_t bh, int64_t i) {
  const int64_t L = s.length;
  const int64_t b = bh / s.heads;
  const T keep_scale = static_cast<T>(1.0 / (1.0 - s.dropout));
  T q[kDh];
  LoadRow<T, kDh>(in.q + (bh * L + i) * kDh, q);
  T acc[kDh];
  EXPSVC_FLASH_UNROLL
  for (int d = 0; d < kDh; ++d) acc[d] = 0;
  T running_max = 0;
  T running_sum = 0;
  bool started = false;  // the diagonal is always visible, so every row starts
  for (int64_t j = 0; j <= i; ++j) {
    if (!Visible(in.padding, L, b, i, j)) continue;
    const T score = Score<T, kDh>(s, in, bh, i, j, Columns(s, in, b, i, j), q);
    if (!started || score > running_max) {
      // Rescale what was summed against the old maximum.
      const T rescale = started ? Exp(running_max - score) : T(0);
      running_sum *= rescale;
      EXPSVC_FLASH_UNROLL
      for (int d = 0; d < kDh; ++d) acc[d] *= rescale;
      running_max = score;
      started = true;
    }
    const T weight = Exp(score - running_max);
    running_sum += weight;
    if (Keep(s, bh, i, j)) AddScaled<T, kDh>(acc, weight * keep_scale, in.v + (bh * L + j) * kDh);
  }
  T* out_row = out + (bh * L + i) * kDh;
  EXPSVC_FLASH_UNROLL
  for (int d = 0; d < kDh; ++d) out_row[d] = acc[d] / running_sum;
  lse[bh * L + i] = running_max + Log(running_sum);
}

// ∂score(i,j): P_ij·(dP_ij − delta_i), with P recomputed from the row's
// log-sum-exp and dP_ij = keep/(1−p)·grad_out_i·v_j.
template <typename T, int kDh>
EXPSVC_FLASH_HD T ScoreGrad(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in,
                            const FlashRelativeGrads<T>& g, int64_t bh, int64_t i, int64_t j, T score,
                            const T (&grad_out_i)[kDh], T* probability_out) {
  const int64_t L = s.length;
  const T probability = Exp(score - g.lse[bh * L + i]);
  *probability_out = probability;
  const T grad_weight =
      Keep(s, bh, i, j) ? Dot<T, kDh>(grad_out_i, in.v + (bh * L + j) * kDh) * static_cast<T>(1.0 / (1.0 - s.dropout))
                        : T(0);
  return probability * (grad_weight - g.delta[bh * L + i]);
}

// ∂q_i and this row's columns of ∂QT, ∂QP (row (bh, i) owns them: no races).
template <typename T, int kDh>
EXPSVC_FLASH_HD void BackwardQueryRow(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in,
                                      const FlashRelativeGrads<T>& g, int64_t bh, int64_t i) {
  const int64_t L = s.length;
  const int64_t b = bh / s.heads;
  const int64_t row = bh * L + i;
  T q[kDh];
  T grad_out[kDh];
  T grad_q[kDh];
  LoadRow<T, kDh>(in.q + row * kDh, q);
  LoadRow<T, kDh>(g.grad_out + row * kDh, grad_out);
  EXPSVC_FLASH_UNROLL
  for (int d = 0; d < kDh; ++d) grad_q[d] = 0;
  for (int64_t j = 0; j <= i; ++j) {
    if (!Visible(in.padding, L, b, i, j)) continue;
    const PairColumns c = Columns(s, in, b, i, j);
    T probability;
    const T grad_score =
        ScoreGrad<T, kDh>(s, in, g, bh, i, j, Score<T, kDh>(s, in, bh, i, j, c, q), grad_out, &probability);
    AddScaled<T, kDh>(grad_q, grad_score, in.k + (bh * L + j) * kDh);
    if (s.index_rows > 0) AddScaled<T, kDh>(grad_q, grad_score, in.index_embedding + c.index_row * kDh);
    if (s.time_columns > 0) {
      g.grad_time_table[row * s.time_columns + c.time] += grad_score;
      g.grad_pitch_table[row * s.pitch_columns + c.pitch] += grad_score;
    }
  }
  T* grad_q_row = g.grad_q + row * kDh;
  EXPSVC_FLASH_UNROLL
  for (int d = 0; d < kDh; ++d) grad_q_row[d] = grad_q[d];
}

// ∂k_j and ∂v_j: key row (bh, j) over the queries that see it.
template <typename T, int kDh>
EXPSVC_FLASH_HD void BackwardKeyRow(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in,
                                    const FlashRelativeGrads<T>& g, int64_t bh, int64_t j) {
  const int64_t L = s.length;
  const int64_t b = bh / s.heads;
  const T keep_scale = static_cast<T>(1.0 / (1.0 - s.dropout));
  T grad_k[kDh];
  T grad_v[kDh];
  EXPSVC_FLASH_UNROLL
  for (int d = 0; d < kDh; ++d) grad_k[d] = grad_v[d] = 0;
  // A padding key is seen by itself only.
  const bool padding_key = in.padding != nullptr && in.padding[b * L + j];
  const int64_t last_query = padding_key ? j : L - 1;
  for (int64_t i = j; i <= last_query; ++i) {
    T q[kDh];
    T grad_out[kDh];
    LoadRow<T, kDh>(in.q + (bh * L + i) * kDh, q);
    LoadRow<T, kDh>(g.grad_out + (bh * L + i) * kDh, grad_out);
    T probability;
    const T grad_score = ScoreGrad<T, kDh>(
        s, in, g, bh, i, j, Score<T, kDh>(s, in, bh, i, j, Columns(s, in, b, i, j), q), grad_out, &probability);
    if (Keep(s, bh, i, j)) AddScaled<T, kDh>(grad_v, probability * keep_scale, grad_out);
    EXPSVC_FLASH_UNROLL
    for (int d = 0; d < kDh; ++d) grad_k[d] += grad_score * q[d];
  }
  T* grad_k_row = g.grad_k + (bh * L + j) * kDh;
  T* grad_v_row = g.grad_v + (bh * L + j) * kDh;
  EXPSVC_FLASH_UNROLL
  for (int d = 0; d < kDh; ++d) {
    grad_k_row[d] = grad_k[d];
    grad_v_row[d] = grad_v[d];
  }
}

// (b,h)'s share of ∂E_idx[r]: Σ over the pairs reading row r of ∂score·q_i.
// Row r < rows−1 is the one diagonal i − j = r; the last row also takes
// every longer distance (they are clamped to it).
template <typename T, int kDh>
EXPSVC_FLASH_HD void BackwardIndexRow(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in,
                                      const FlashRelativeGrads<T>& g, int64_t bh, int64_t r) {
  const int64_t L = s.length;
  const int64_t b = bh / s.heads;
  const int64_t last_distance = (r == s.index_rows - 1) ? L - 1 : r;
  T grad_e[kDh];
  EXPSVC_FLASH_UNROLL
  for (int d = 0; d < kDh; ++d) grad_e[d] = 0;
  for (int64_t distance = r; distance <= last_distance; ++distance) {
    for (int64_t i = distance; i < L; ++i) {
      const int64_t j = i - distance;
      if (!Visible(in.padding, L, b, i, j)) continue;
      T q[kDh];
      T grad_out[kDh];
      LoadRow<T, kDh>(in.q + (bh * L + i) * kDh, q);
      LoadRow<T, kDh>(g.grad_out + (bh * L + i) * kDh, grad_out);
      T probability;
      const T grad_score = ScoreGrad<T, kDh>(
          s, in, g, bh, i, j, Score<T, kDh>(s, in, bh, i, j, Columns(s, in, b, i, j), q), grad_out, &probability);
      EXPSVC_FLASH_UNROLL
      for (int d = 0; d < kDh; ++d) grad_e[d] += grad_score * q[d];
    }
  }
  const int64_t rows = s.index_rows < L ? s.index_rows : L;
  T* grad_row = g.grad_index_partial + (bh * rows + r) * kDh;
  EXPSVC_FLASH_UNROLL
  for (int d = 0; d < kDh; ++d) grad_row[d] = grad_e[d];
}

}  // namespace expsvc::kernels::flash_rows
