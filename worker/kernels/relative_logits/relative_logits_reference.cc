#include "worker/kernels/relative_logits/relative_logits_reference.h"

#include <limits>

namespace expsvc::kernels {
namespace {

// The table columns one visible pair (i, j) reads, in chunk k's table.
std::vector<int64_t> ColumnsOf(const FusedLogitsArgs& args, int64_t k, int64_t i, int64_t j, int64_t time_row,
                               int64_t pitch_row) {
  std::vector<int64_t> columns;
  if (args.mode == TableMode::kMaskOnly) return columns;
  columns.push_back(i - j);
  const ChunkColumns& col = args.columns.empty() ? ChunkColumns{} : args.columns[k];
  if (args.mode == TableMode::kCombined) {
    columns.push_back(col.time + (time_row - args.time_row_offset[k]));
    columns.push_back(col.pitch + pitch_row);
  } else if (args.mode == TableMode::kSplit) {
    const int64_t r = time_row - args.time_row_offset[k];
    columns.push_back(col.time + r / args.time_period);
    columns.push_back(col.position + r % args.time_period);
    if (pitch_row < args.no_pitch) {
      columns.push_back(col.pitch + pitch_row / args.pitch_period);
      columns.push_back(col.semitone + pitch_row % args.pitch_period);
    }
  }
  return columns;
}

bool HasRows(const FusedLogitsArgs& args) {
  return args.mode == TableMode::kCombined || args.mode == TableMode::kSplit;
}

}  // namespace

torch::Tensor RelativeLogitsReference(const torch::Tensor& content, const std::vector<torch::Tensor>& chunk_tables,
                                      const FusedLogitsArgs& args) {
  const torch::Tensor in = content.to(torch::kFloat64);
  torch::Tensor out = torch::empty_like(in);
  const int64_t B = in.size(0), H = in.size(1), L = in.size(2);
  auto c = in.accessor<double, 4>();
  auto o = out.accessor<double, 4>();
  auto blocked = args.blocked.accessor<bool, 4>();
  std::vector<torch::Tensor> tables;
  for (const torch::Tensor& t : chunk_tables) tables.push_back(t.to(torch::kFloat64));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < L; ++i) {
        const int64_t k = i / args.query_chunk;
        for (int64_t j = 0; j < L; ++j) {
          if (j > i || blocked[b][0][i][j]) {
            o[b][h][i][j] = -std::numeric_limits<double>::infinity();
            continue;
          }
          double value = c[b][h][i][j];
          const int64_t t = HasRows(args) ? args.time_row[b][0][i][j].item<int64_t>() : 0;
          const int64_t p = HasRows(args) ? args.pitch_row[b][0][i][j].item<int64_t>() : 0;
          for (int64_t column : ColumnsOf(args, k, i, j, t, p)) {
            value += tables[k][b][h][i - k * args.query_chunk][column].item<double>();
          }
          o[b][h][i][j] = value;
        }
      }
    }
  }
  return out.to(content.scalar_type());
}

std::vector<torch::Tensor> RelativeLogitsReferenceTableGrads(const torch::Tensor& grad,
                                                             const std::vector<torch::Tensor>& chunk_tables,
                                                             const FusedLogitsArgs& args) {
  const torch::Tensor g = grad.to(torch::kFloat64);
  const int64_t B = g.size(0), H = g.size(1), L = g.size(2);
  auto ga = g.accessor<double, 4>();
  auto blocked = args.blocked.accessor<bool, 4>();
  std::vector<torch::Tensor> grads;
  if (args.mode == TableMode::kMaskOnly) return grads;  // no tables
  for (const torch::Tensor& t : chunk_tables) grads.push_back(torch::zeros(t.sizes(), torch::kFloat64));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < L; ++i) {
        const int64_t k = i / args.query_chunk;
        for (int64_t j = 0; j <= i; ++j) {
          if (blocked[b][0][i][j]) continue;
          const int64_t t = HasRows(args) ? args.time_row[b][0][i][j].item<int64_t>() : 0;
          const int64_t p = HasRows(args) ? args.pitch_row[b][0][i][j].item<int64_t>() : 0;
          auto row = grads[k][b][h][i - k * args.query_chunk];
          for (int64_t column : ColumnsOf(args, k, i, j, t, p)) {
            row[column] += ga[b][h][i][j];
          }
        }
      }
    }
  }
  for (size_t k = 0; k < grads.size(); ++k) grads[k] = grads[k].to(chunk_tables[k].scalar_type());
  return grads;
}

}  // namespace expsvc::kernels
