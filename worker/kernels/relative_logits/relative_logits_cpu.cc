#include "worker/kernels/relative_logits/relative_logits.h"

#include <algorithm>
#include <limits>

namespace expsvc::kernels {
namespace {

class FusedRelativeLogits : public torch::autograd::Function<FusedRelativeLogits> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor content,
                               at::TensorList chunk_tables, const FusedLogitsArgs& args) {
    TORCH_CHECK(content.is_contiguous() && content.dim() == 4, "content must be contiguous [B,H,L,L]");
    const int64_t L = content.size(2);
    const int64_t num_chunks = (L + args.query_chunk - 1) / args.query_chunk;
    TORCH_CHECK(args.mode == TableMode::kMaskOnly ? chunk_tables.empty()
                                                  : static_cast<int64_t>(chunk_tables.size()) == num_chunks,
                "one table per query chunk");
    std::vector<torch::Tensor> tables;
    for (const torch::Tensor& t : chunk_tables) tables.push_back(t.contiguous());
    AT_DISPATCH_FLOATING_TYPES(content.scalar_type(), "fused_relative_logits",
                               [&] { Run<scalar_t, /*kBackward=*/false>(args, content, tables); });
    ctx->mark_dirty({content});
    Save(ctx, args);
    std::vector<int64_t> widths;
    for (const torch::Tensor& t : tables) widths.push_back(t.size(3));
    ctx->saved_data["widths"] = widths;
    return content;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    // Blocked logits are constant −inf and softmax already sends them an
    // exact zero gradient, so the content gradient passes through unchanged.
    const torch::Tensor grad = grad_outputs[0].contiguous();
    const FusedLogitsArgs args = Load(ctx);
    const std::vector<int64_t> widths = ctx->saved_data["widths"].toIntVector();
    const int64_t B = grad.size(0);
    const int64_t H = grad.size(1);
    const int64_t L = grad.size(2);
    std::vector<torch::Tensor> grad_tables;
    for (size_t k = 0; k < widths.size(); ++k) {
      const int64_t rows = std::min(args.query_chunk, L - static_cast<int64_t>(k) * args.query_chunk);
      grad_tables.push_back(torch::empty({B, H, rows, widths[k]}, grad.options()));
    }
    if (!grad_tables.empty()) {
      AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "fused_relative_logits_backward",
                                 [&] { Run<scalar_t, /*kBackward=*/true>(args, grad, grad_tables); });
    }
    torch::autograd::variable_list grads = {grad};
    for (torch::Tensor& t : grad_tables) grads.push_back(std::move(t));
    grads.emplace_back();  // args
    return grads;
  }

 private:
  static void Save(torch::autograd::AutogradContext* ctx, const FusedLogitsArgs& args) {
    ctx->saved_data["mode"] = static_cast<int64_t>(args.mode);
    ctx->saved_data["blocked"] = args.blocked;
    if (args.time_row.defined()) {
      ctx->saved_data["time_row"] = args.time_row;
      ctx->saved_data["pitch_row"] = args.pitch_row;
    }
    ctx->saved_data["query_chunk"] = args.query_chunk;
    ctx->saved_data["no_pitch"] = args.no_pitch;
    ctx->saved_data["time_period"] = args.time_period;
    ctx->saved_data["pitch_period"] = args.pitch_period;
    ctx->saved_data["time_row_offset"] = args.time_row_offset;
    std::vector<int64_t> columns;
    for (const ChunkColumns& c : args.columns) {
      columns.insert(columns.end(), {c.time, c.position, c.pitch, c.semitone});
    }
    ctx->saved_data["columns"] = columns;
  }

  static FusedLogitsArgs Load(torch::autograd::AutogradContext* ctx) {
    FusedLogitsArgs args;
    args.mode = static_cast<TableMode>(ctx->saved_data["mode"].toInt());
    args.blocked = ctx->saved_data["blocked"].toTensor();
    if (ctx->saved_data.count("time_row") > 0) {
      args.time_row = ctx->saved_data["time_row"].toTensor();
      args.pitch_row = ctx->saved_data["pitch_row"].toTensor();
    }
    args.query_chunk = ctx->saved_data["query_chunk"].toInt();
    args.no_pitch = ctx->saved_data["no_pitch"].toInt();
    args.time_period = ctx->saved_data["time_period"].toInt();
    args.pitch_period = ctx->saved_data["pitch_period"].toInt();
    args.time_row_offset = ctx->saved_data["time_row_offset"].toIntVector();
    const std::vector<int64_t> columns = ctx->saved_data["columns"].toIntVector();
    for (size_t n = 0; n + 3 < columns.size(); n += 4) {
      args.columns.push_back({columns[n], columns[n + 1], columns[n + 2], columns[n + 3]});
    }
    return args;
  }

  // Forward: logits (in place) from the tables. Backward: the tables'
  // gradients (written whole) from the logits' gradient.
  template <typename T, bool kBackward>
  static void Run(const FusedLogitsArgs& args, const torch::Tensor& logits_or_grad,
                  const std::vector<torch::Tensor>& tables) {
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
};

}  // namespace

torch::Tensor RelativeLogitsCpu(torch::Tensor content, at::TensorList chunk_tables, const FusedLogitsArgs& args) {
  return FusedRelativeLogits::apply(std::move(content), chunk_tables, args);
}

}  // namespace expsvc::kernels
