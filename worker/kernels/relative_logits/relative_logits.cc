#include "worker/kernels/relative_logits/relative_logits.h"

#include <algorithm>

#include "worker/kernels/relative_logits/relative_logits_passes.h"

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
    RunPass(args, content, tables, /*backward=*/false);
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
    if (!grad_tables.empty()) RunPass(args, grad, grad_tables, /*backward=*/true);
    torch::autograd::variable_list grads = {grad};
    for (torch::Tensor& t : grad_tables) grads.push_back(std::move(t));
    grads.emplace_back();  // args
    return grads;
  }

 private:
  // The device decides: the CPU loops or the CUDA kernels.
  static void RunPass(const FusedLogitsArgs& args, const torch::Tensor& logits_or_grad,
                      const std::vector<torch::Tensor>& tables, bool backward) {
    if (logits_or_grad.is_cpu()) {
      RelativeLogitsCpuPass(args, logits_or_grad, tables, backward);
      return;
    }
#ifdef EXPSVC_RELATIVE_LOGITS_CUDA
    if (logits_or_grad.is_cuda()) {
      RelativeLogitsCudaPass(args, logits_or_grad, tables, backward);
      return;
    }
#endif
    TORCH_CHECK(false, "the relative-logits kernel has no pass for ", logits_or_grad.device(),
                " in this build (see RelativeLogitsRunsOn)");
  }

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
};

}  // namespace

bool RelativeLogitsRunsOn(const torch::Device& device, torch::ScalarType dtype) {
  if (dtype != torch::kFloat32 && dtype != torch::kFloat64) return false;
#ifdef EXPSVC_RELATIVE_LOGITS_CUDA
  if (device.is_cuda()) return true;
#endif
  return device.is_cpu();
}

torch::Tensor RelativeLogits(torch::Tensor content, at::TensorList chunk_tables, const FusedLogitsArgs& args) {
  return FusedRelativeLogits::apply(std::move(content), chunk_tables, args);
}

}  // namespace expsvc::kernels
