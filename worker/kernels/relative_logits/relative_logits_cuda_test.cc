// The CUDA kernels against the CPU, forward and backward, every table mode:
// the unit test's small case in float32 and float64 against the plain-loop
// reference, a longer one (several keys per thread, five chunks) and rows
// too wide for shared memory against the CPU op (itself tested against the
// reference, and much faster). The gradient tables are poisoned first, so a
// slot the backward never writes fails. Where the build has the Torch side
// of the CUDA pass (bench/gpu does), the autograd op runs on CUDA tensors
// too. Skips, saying so, where no CUDA device is usable
// (EXPSVC_REQUIRE_GPU=1 makes that a failure).
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include <torch/torch.h>

#include "worker/kernels/cuda_test_support.h"
#include "worker/kernels/relative_logits/relative_logits.h"
#include "worker/kernels/relative_logits/relative_logits_cuda.h"
#include "worker/kernels/relative_logits/relative_logits_reference.h"
#include "worker/kernels/relative_logits/relative_logits_test_cases.h"

namespace expsvc::kernels {
namespace {

using relative_logits_cases::Case;
using relative_logits_cases::CaseSize;
using relative_logits_cases::MakeCase;

template <typename T>
std::vector<T> HostVector(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

// Each chunk table on the device, and the (host) descriptors of them.
template <typename T>
struct DeviceTables {
  std::vector<std::unique_ptr<DeviceBuffer<T>>> tables;
  std::vector<RelativeLogitsChunk<T>> chunks;
};

template <typename T>
DeviceTables<T> ToDevice(const std::vector<torch::Tensor>& host_tables, const FusedLogitsArgs& args) {
  DeviceTables<T> out;
  for (size_t k = 0; k < host_tables.size(); ++k) {
    out.tables.push_back(std::make_unique<DeviceBuffer<T>>(HostVector<T>(host_tables[k])));
    RelativeLogitsChunk<T> chunk;
    chunk.table = out.tables.back()->get();
    chunk.width = host_tables[k].size(3);
    if (!args.columns.empty()) {
      chunk.time_row_offset = args.time_row_offset[k];
      chunk.columns = args.columns[k];
    }
    out.chunks.push_back(chunk);
  }
  return out;
}

template <typename T>
void CheckClose(const std::vector<T>& got, const torch::Tensor& expected, double tolerance, const char* what) {
  const std::vector<double> want = HostVector<double>(expected.to(torch::kFloat64));
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t n = 0; n < got.size(); ++n) {
    if (std::isinf(want[n])) {
      ASSERT_TRUE(std::isinf(got[n]) && got[n] < 0) << what << ": entry " << n << " should be −inf, got " << got[n];
      continue;
    }
    // NaN (a poisoned slot left unwritten) fails here too.
    ASSERT_TRUE(std::abs(static_cast<double>(got[n]) - want[n]) <= tolerance * (1.0 + std::abs(want[n])))
        << what << ": entry " << n << " is " << got[n] << ", expected " << want[n];
  }
}

struct Expected {
  torch::Tensor logits;
  std::vector<torch::Tensor> table_grads;
};

Expected FromReference(const Case& c, const torch::Tensor& grad) {
  return {RelativeLogitsReference(c.content, c.tables, c.args),
          c.args.mode == TableMode::kMaskOnly ? std::vector<torch::Tensor>{}
                                              : RelativeLogitsReferenceTableGrads(grad, c.tables, c.args)};
}

Expected FromCpuOp(const Case& c, const torch::Tensor& grad) {
  std::vector<torch::Tensor> tables;
  for (const torch::Tensor& t : c.tables) tables.push_back(t.clone().requires_grad_(true));
  const torch::Tensor content = c.content.clone().requires_grad_(true);
  const torch::Tensor logits = RelativeLogits(content * 1, at::TensorList(tables), c.args);
  Expected expected{logits.detach().clone(), {}};
  logits.backward(grad);
  for (const torch::Tensor& t : tables) expected.table_grads.push_back(t.grad());
  return expected;
}

enum class Truth { kReference, kCpuOp };

template <typename T>
void RunCase(TableMode mode, const CaseSize& size, int64_t seed, Truth truth) {
  const torch::Dtype dtype = std::is_same_v<T, float> ? torch::kFloat32 : torch::kFloat64;
  const double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  const Case c = MakeCase(mode, dtype, seed, size);
  const FusedLogitsArgs& args = c.args;
  const torch::Tensor grad = torch::randn(c.content.sizes(), dtype);
  const Expected expected = truth == Truth::kReference ? FromReference(c, grad) : FromCpuOp(c, grad);

  RelativeLogitsShape shape;
  shape.batch = size.batch;
  shape.heads = size.heads;
  shape.length = size.length;
  shape.query_chunk = args.query_chunk;
  shape.mode = mode;
  shape.no_pitch = args.no_pitch;
  shape.time_period = args.time_period;
  shape.pitch_period = args.pitch_period;
  const bool with_rows = mode == TableMode::kCombined || mode == TableMode::kSplit;
  DeviceBuffer<T> logits(HostVector<T>(c.content));
  // bool as bytes (std::vector<bool> has no contiguous storage).
  DeviceBuffer<uint8_t> blocked_bytes(HostVector<uint8_t>(args.blocked.to(torch::kUInt8)));
  const bool* blocked = reinterpret_cast<const bool*>(blocked_bytes.get());
  DeviceBuffer<int64_t> time_row(with_rows ? HostVector<int64_t>(args.time_row) : std::vector<int64_t>{});
  DeviceBuffer<int64_t> pitch_row(with_rows ? HostVector<int64_t>(args.pitch_row) : std::vector<int64_t>{});
  const int64_t* time_rows = with_rows ? time_row.get() : nullptr;
  const int64_t* pitch_rows = with_rows ? pitch_row.get() : nullptr;
  const DeviceTables<T> tables = ToDevice<T>(c.tables, args);
  const int64_t num_chunks = static_cast<int64_t>(tables.chunks.size());

  ASSERT_CUDA(RelativeLogitsForwardCuda<T>(logits.get(), tables.chunks.data(), num_chunks, blocked, time_rows,
                                           pitch_rows, shape, nullptr));
  ASSERT_CUDA(cudaDeviceSynchronize());
  CheckClose(logits.ToHost(), expected.logits, tolerance, "forward");
  if (mode == TableMode::kMaskOnly) return;

  DeviceBuffer<T> device_grad(HostVector<T>(grad));
  std::vector<torch::Tensor> poisoned;
  for (const torch::Tensor& t : c.tables) poisoned.push_back(torch::full(t.sizes(), NAN, dtype));
  const DeviceTables<T> grads = ToDevice<T>(poisoned, args);
  ASSERT_CUDA(RelativeLogitsBackwardCuda<T>(device_grad.get(), grads.chunks.data(), num_chunks, blocked, time_rows,
                                            pitch_rows, shape, nullptr));
  ASSERT_CUDA(cudaDeviceSynchronize());
  ASSERT_EQ(expected.table_grads.size(), grads.tables.size());
  for (size_t k = 0; k < grads.tables.size(); ++k) {
    CheckClose(grads.tables[k]->ToHost(), expected.table_grads[k], tolerance, "table gradient");
  }
}

class RelativeLogitsCudaTest : public ::testing::TestWithParam<TableMode> {};

TEST_P(RelativeLogitsCudaTest, SmallCaseMatchesReference) {
  SKIP_WITHOUT_GPU();
  for (int64_t seed : {1, 2}) {
    RunCase<float>(GetParam(), {}, seed, Truth::kReference);
    RunCase<double>(GetParam(), {}, seed, Truth::kReference);
  }
}

// 300 keys per row: more than one key per thread, five chunks of 64.
TEST_P(RelativeLogitsCudaTest, LongerRowsMatchCpuOp) {
  SKIP_WITHOUT_GPU();
  RunCase<float>(GetParam(), {.batch = 2, .heads = 3, .length = 300, .query_chunk = 64}, 3, Truth::kCpuOp);
}

// 60 chunks of 2 rows: two launches of up to kChunksPerLaunch chunks each.
TEST_P(RelativeLogitsCudaTest, ManyChunksTakeSeveralLaunches) {
  SKIP_WITHOUT_GPU();
  static_assert(kChunksPerLaunch < 60);
  RunCase<double>(GetParam(), {.batch = 1, .heads = 2, .length = 120, .query_chunk = 2}, 5, Truth::kCpuOp);
}

// Rows of more than 48 KiB take the backward's global-memory path.
TEST_P(RelativeLogitsCudaTest, WideTablesMatchCpuOp) {
  SKIP_WITHOUT_GPU();
  RunCase<double>(GetParam(), {.batch = 1, .heads = 2, .length = 20, .query_chunk = 8, .extra_columns = 6200}, 4,
                  Truth::kCpuOp);
}

INSTANTIATE_TEST_SUITE_P(EveryMode, RelativeLogitsCudaTest,
                         ::testing::Values(TableMode::kMaskOnly, TableMode::kIndexOnly, TableMode::kCombined,
                                           TableMode::kSplit));

TEST(RelativeLogitsCudaShapeTest, RefusesABadShapeWithoutLaunching) {
  SKIP_WITHOUT_GPU();
  RelativeLogitsShape shape;  // zero sizes
  EXPECT_EQ(RelativeLogitsForwardCuda<float>(nullptr, nullptr, 0, nullptr, nullptr, nullptr, shape, nullptr),
            cudaErrorInvalidValue);
  // A chunk count that does not cover L.
  shape = {.batch = 1, .heads = 1, .length = 10, .query_chunk = 4, .mode = TableMode::kIndexOnly};
  RelativeLogitsChunk<float> one_chunk;
  float logits = 0;
  bool blocked = false;
  EXPECT_EQ(RelativeLogitsForwardCuda<float>(&logits, &one_chunk, 1, &blocked, nullptr, nullptr, shape, nullptr),
            cudaErrorInvalidValue);
}

#ifdef EXPSVC_RELATIVE_LOGITS_CUDA
// The autograd op itself on CUDA tensors (the binding), against the CPU op.
TEST_P(RelativeLogitsCudaTest, TorchOpOnCudaMatchesCpuOp) {
  SKIP_WITHOUT_GPU();
  const torch::Device cuda(torch::kCUDA);
  ASSERT_TRUE(RelativeLogitsRunsOn(cuda, torch::kFloat32));
  const Case c = MakeCase(GetParam(), torch::kFloat32, 6, {.batch = 2, .heads = 3, .length = 150, .query_chunk = 32});
  const torch::Tensor grad = torch::randn(c.content.sizes());
  const Expected expected = FromCpuOp(c, grad);

  FusedLogitsArgs args = c.args;
  args.blocked = args.blocked.to(cuda);
  if (args.time_row.defined()) {
    args.time_row = args.time_row.to(cuda);
    args.pitch_row = args.pitch_row.to(cuda);
  }
  std::vector<torch::Tensor> tables;
  for (const torch::Tensor& t : c.tables) tables.push_back(t.to(cuda).requires_grad_(true));
  const torch::Tensor content = c.content.to(cuda).requires_grad_(true);
  const torch::Tensor logits = RelativeLogits(content * 1, at::TensorList(tables), args);
  logits.backward(grad.to(cuda));
  CheckClose(HostVector<float>(logits.detach().cpu()), expected.logits, 1e-5, "forward");
  for (size_t k = 0; k < tables.size(); ++k) {
    CheckClose(HostVector<float>(tables[k].grad().cpu()), expected.table_grads[k], 1e-5, "table gradient");
  }
  EXPECT_TRUE(torch::allclose(content.grad().cpu(), grad));
}
#endif

}  // namespace
}  // namespace expsvc::kernels
