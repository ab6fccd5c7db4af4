// The CUDA pass of relative_logits.h for Torch tensors: checks devices,
// shapes and layouts, describes the chunk tables to the kernels (their
// launch arguments carry the descriptors), and launches on Torch's current
// stream. Built only where
// LibTorch has CUDA (the target defines EXPSVC_RELATIVE_LOGITS_CUDA).

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

#include "worker/kernels/relative_logits/relative_logits_cuda.h"
#include "worker/kernels/relative_logits/relative_logits_passes.h"

namespace expsvc::kernels {
namespace {

void CheckOnDevice(const torch::Tensor& t, const char* name, const torch::Device& device, torch::Dtype dtype) {
  TORCH_CHECK(t.defined() && t.device() == device, name, " must be on ", device);
  TORCH_CHECK(t.scalar_type() == dtype, name, " must be ", c10::toString(dtype), ", got ",
              c10::toString(t.scalar_type()));
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

template <typename T>
void Launch(const FusedLogitsArgs& args, const torch::Tensor& logits_or_grad, const std::vector<torch::Tensor>& tables,
            bool backward) {
  const torch::Device device = logits_or_grad.device();
  const c10::cuda::CUDAGuard guard(device);
  RelativeLogitsShape shape;
  shape.batch = logits_or_grad.size(0);
  shape.heads = logits_or_grad.size(1);
  shape.length = logits_or_grad.size(2);
  shape.query_chunk = args.query_chunk;
  shape.mode = args.mode;
  shape.no_pitch = args.no_pitch;
  shape.time_period = args.time_period;
  shape.pitch_period = args.pitch_period;
  const int64_t B = shape.batch, H = shape.heads, L = shape.length;
  TORCH_CHECK(logits_or_grad.size(3) == L, "logits must be [B,H,L,L]");
  TORCH_CHECK(args.query_chunk > 0, "query_chunk must be positive");
  if (logits_or_grad.numel() == 0) return;
  const bool with_rows = args.mode == TableMode::kCombined || args.mode == TableMode::kSplit;
  CheckOnDevice(args.blocked, "blocked", device, torch::kBool);
  TORCH_CHECK(args.blocked.numel() == B * L * L, "blocked must be [B,1,L,L]");
  if (with_rows) {
    CheckOnDevice(args.time_row, "time_row", device, torch::kLong);
    CheckOnDevice(args.pitch_row, "pitch_row", device, torch::kLong);
    TORCH_CHECK(args.time_row.numel() == B * L * L && args.pitch_row.numel() == B * L * L,
                "time_row and pitch_row must be [B,1,L,L]");
  }
  const int64_t num_chunks = (L + args.query_chunk - 1) / args.query_chunk;
  if (args.mode != TableMode::kMaskOnly) {
    TORCH_CHECK(static_cast<int64_t>(tables.size()) == num_chunks, "one table per query chunk: expected ", num_chunks,
                ", got ", tables.size());
  }
  if (with_rows) {
    TORCH_CHECK(static_cast<int64_t>(args.columns.size()) == num_chunks &&
                    static_cast<int64_t>(args.time_row_offset.size()) == num_chunks,
                "columns and time_row_offset need one entry per query chunk");
  }

  // The descriptors stay on the host: the launch carries them.
  std::vector<RelativeLogitsChunk<T>> chunks(tables.size());
  for (size_t k = 0; k < tables.size(); ++k) {
    const int64_t rows = std::min(args.query_chunk, L - static_cast<int64_t>(k) * args.query_chunk);
    CheckOnDevice(tables[k], "chunk table", device, logits_or_grad.scalar_type());
    TORCH_CHECK(tables[k].dim() == 4 && tables[k].size(0) == B && tables[k].size(1) == H && tables[k].size(2) == rows,
                "chunk table ", k, " must be [B,H,", rows, ",width], got ", tables[k].sizes());
    chunks[k].table = tables[k].data_ptr<T>();
    chunks[k].width = tables[k].size(3);
    // The segments must lie inside the table (the row values themselves are
    // the layout's to keep in range; checking them would cost a pass).
    const int64_t end = std::min(L, (static_cast<int64_t>(k) + 1) * args.query_chunk);
    TORCH_CHECK(chunks[k].width >= end, "chunk table ", k, " is narrower than its ", end, " index columns");
    if (with_rows) {
      chunks[k].time_row_offset = args.time_row_offset[k];
      chunks[k].columns = args.columns[k];
      const ChunkColumns& c = args.columns[k];
      const int64_t last =
          args.mode == TableMode::kCombined ? c.pitch + args.no_pitch + 1 : c.semitone + args.pitch_period;
      TORCH_CHECK(args.time_row_offset[k] >= 0 && c.time >= end && c.pitch >= c.time && last <= chunks[k].width,
                  "chunk ", k, "'s time and pitch columns do not fit its table of width ", chunks[k].width);
    }
  }
  const int64_t* time_row = with_rows ? args.time_row.data_ptr<int64_t>() : nullptr;
  const int64_t* pitch_row = with_rows ? args.pitch_row.data_ptr<int64_t>() : nullptr;
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const cudaError_t error =
      backward ? RelativeLogitsBackwardCuda<T>(logits_or_grad.data_ptr<T>(), chunks.data(), num_chunks,
                                               args.blocked.data_ptr<bool>(), time_row, pitch_row, shape, stream)
               : RelativeLogitsForwardCuda<T>(logits_or_grad.data_ptr<T>(), chunks.data(), num_chunks,
                                              args.blocked.data_ptr<bool>(), time_row, pitch_row, shape, stream);
  TORCH_CHECK(error == cudaSuccess, backward ? "RelativeLogitsBackwardCuda" : "RelativeLogitsForwardCuda", ": ",
              cudaGetErrorString(error));
}

}  // namespace

void RelativeLogitsCudaPass(const FusedLogitsArgs& args, const torch::Tensor& logits_or_grad,
                            const std::vector<torch::Tensor>& tables, bool backward) {
  TORCH_CHECK(logits_or_grad.is_contiguous() && logits_or_grad.dim() == 4, "logits must be contiguous [B,H,L,L]");
  switch (logits_or_grad.scalar_type()) {
    case torch::kFloat32: Launch<float>(args, logits_or_grad, tables, backward); break;
    case torch::kFloat64: Launch<double>(args, logits_or_grad, tables, backward); break;
    default:
      TORCH_CHECK(false, "the CUDA relative-logits pass takes float32 or float64, got ",
                  c10::toString(logits_or_grad.scalar_type()));
  }
}

}  // namespace expsvc::kernels
