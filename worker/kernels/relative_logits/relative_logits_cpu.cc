// The CPU pass of relative_logits.h: plain loops over query rows, in
// parallel, each reading its chunk table's columns for every head.
#include <algorithm>
#include <limits>

#include "worker/kernels/relative_logits/relative_logits_passes.h"

namespace expsvc::kernels {
namespace {

// Forward: logits (in place) from the tables. Backward: the tables'
// gradients (written whole) from the logits' gradient.
template <typename T, bool kBackward>
void Run(const FusedLogitsArgs& args, const torch::Tensor& logits_or_grad, const std::vector<torch::Tensor>& tables) {
  const int64_t B = logits_or_grad.size(0);
  const int64_t H = logits_or_grad.size(1);
  const int64_t L = logits_or_grad.size(2);
  const int64_t chunk = args.query_chunk;
  const TableMode mode = args.mode;
  const bool with_rows = mode == TableMode::kCombined || mode == TableMode::kSplit;
  const T minus_infinity = -std::numeric_limits<T>::infinity();
  T* logits = logits_or_grad.data_ptr<T>();  // the gradient in backward (read only)
  const bool* blocked = args.blocked.data_ptr<bool>();
  const int64_t* time_row = with_rows ? args.time_row.data_ptr<int64_t>() : nullptr;
  const int64_t* pitch_row = with_rows ? args.pitch_row.data_ptr<int64_t>() : nullptr;
  std::vector<T*> table_data;
  std::vector<int64_t> table_width;
  for (const torch::Tensor& t : tables) {
    table_data.push_back(t.data_ptr<T>());
    table_width.push_back(t.size(3));
  }
  at::parallel_for(0, B * L, 4, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / L;
      const int64_t i = row % L;
      const int64_t k = i / chunk;
      const int64_t rows = std::min(chunk, L - k * chunk);
      const bool* blocked_row = blocked + row * L;
      const int64_t* t = with_rows ? time_row + row * L : nullptr;
      const int64_t* p = with_rows ? pitch_row + row * L : nullptr;
      for (int64_t h = 0; h < H; ++h) {
        const int64_t bh = b * H + h;
        T* out = logits + (bh * L + i) * L;
        if (mode == TableMode::kMaskOnly) {
          if constexpr (!kBackward) {
            std::fill(out + i + 1, out + L, minus_infinity);
            for (int64_t j = 0; j <= i; ++j) {
              if (blocked_row[j]) out[j] = minus_infinity;
            }
          }
          continue;
        }
        T* table = table_data[k] + (bh * rows + (i - k * chunk)) * table_width[k];
        if constexpr (kBackward) {
          std::fill(table, table + table_width[k], T(0));
        } else {
          std::fill(out + i + 1, out + L, minus_infinity);
        }
        const ChunkColumns& col = args.columns.empty() ? ChunkColumns{} : args.columns[k];
        const int64_t time_base = with_rows ? col.time - args.time_row_offset[k] : 0;
        for (int64_t j = 0; j <= i; ++j) {
          if (blocked_row[j]) {
            if constexpr (!kBackward) out[j] = minus_infinity;
            continue;
          }
          if constexpr (kBackward) {
            const T g = out[j];
            table[i - j] = g;
            if (mode == TableMode::kCombined) {
              table[time_base + t[j]] += g;
              table[col.pitch + p[j]] += g;
            } else if (mode == TableMode::kSplit) {
              const int64_t r = t[j] - args.time_row_offset[k];
              table[col.time + r / args.time_period] += g;
              table[col.position + r % args.time_period] += g;
              if (p[j] < args.no_pitch) {
                table[col.pitch + p[j] / args.pitch_period] += g;
                table[col.semitone + p[j] % args.pitch_period] += g;
              }
            }
          } else {
            T value = out[j] + table[i - j];
            if (mode == TableMode::kCombined) {
              value += table[time_base + t[j]] + table[col.pitch + p[j]];
            } else if (mode == TableMode::kSplit) {
              const int64_t r = t[j] - args.time_row_offset[k];
              value += table[col.time + r / args.time_period] + table[col.position + r % args.time_period];
              if (p[j] < args.no_pitch) {
                value += table[col.pitch + p[j] / args.pitch_period] + table[col.semitone + p[j] % args.pitch_period];
              }
            }
            out[j] = value;
          }
        }
      }
    }
  });
}

}  // namespace

void RelativeLogitsCpuPass(const FusedLogitsArgs& args, const torch::Tensor& logits_or_grad,
                           const std::vector<torch::Tensor>& tables, bool backward) {
  AT_DISPATCH_FLOATING_TYPES(logits_or_grad.scalar_type(), "relative_logits_cpu", [&] {
    if (backward) {
      Run<scalar_t, true>(args, logits_or_grad, tables);
    } else {
      Run<scalar_t, false>(args, logits_or_grad, tables);
    }
  });
}

}  // namespace expsvc::kernels
