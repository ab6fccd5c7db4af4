// The flash relative attention's CUDA kernels against its CPU pass (the
// same row code, itself tested against whole-tensor attention in
// flash_relative_test.cc), forward and backward, on fresh random inputs:
// every term, padding, dropout, index rows clamped and not, several blocks
// of rows, float32 and float64, head sizes 8, 32, 64 and 128; and, where the
// build has the Torch binding (bench/gpu's does), the autograd op on CUDA
// tensors against the CPU. The gradient buffers
// are poisoned with NaN first (the score tables' with zeros, which the
// contract asks of the caller), so a slot the kernels never write fails.
// Skips, saying so, where no CUDA device is usable (EXPSVC_REQUIRE_GPU=1
// makes that a failure).
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "worker/kernels/cuda_test_support.h"
#include "worker/kernels/flash_relative/flash_relative.h"
#include "worker/kernels/flash_relative/flash_relative_cpu.h"
#include "worker/kernels/flash_relative/flash_relative_cuda.h"

namespace expsvc::kernels {
namespace {

struct Case {
  int64_t batch = 2;
  int64_t heads = 3;
  int64_t length = 300;
  int64_t head_dim = 32;
  int64_t index_rows = 1000;
  bool time_pitch = true;
  bool padding = true;
  double dropout = 0.0;
};

template <typename T>
std::vector<T> Host(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

template <typename T>
void ExpectClose(const std::vector<T>& actual, const std::vector<T>& expected, double tolerance, const char* what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  double worst = 0;
  size_t worst_at = 0;
  for (size_t n = 0; n < expected.size(); ++n) {
    const double diff = std::abs(static_cast<double>(actual[n]) - static_cast<double>(expected[n]));
    const double bound = tolerance * (1.0 + std::abs(static_cast<double>(expected[n])));
    if (!(diff <= bound)) {  // NaN fails too
      ADD_FAILURE() << what << "[" << n << "]: " << actual[n] << " vs " << expected[n];
      return;
    }
    if (diff > worst) {
      worst = diff;
      worst_at = n;
    }
  }
  SUCCEED() << what << ": worst |diff| " << worst << " at " << worst_at;
}

template <typename T>
void CompareWithCpu(const Case& c, double tolerance) {
  const torch::Dtype dtype = std::is_same_v<T, double> ? torch::kFloat64 : torch::kFloat32;
  const auto opts = torch::TensorOptions().dtype(dtype);
  torch::manual_seed(1234 + c.length + c.head_dim);
  const int64_t B = c.batch, H = c.heads, L = c.length, D = c.head_dim;
  FlashRelativeShape s;
  s.batch = B;
  s.heads = H;
  s.length = L;
  s.head_dim = D;
  s.index_rows = c.index_rows;
  s.dropout = c.dropout;
  s.seed = 99;
  if (c.time_pitch) {
    s.rules = {
        .time_period = 48, .first_bar = 0, .num_bars = 5, .pitch_period = 12, .first_octave = -3, .num_octaves = 6};
    s.time_columns = s.rules.TimeColumns();
    s.pitch_columns = s.rules.PitchColumns();
  }
  const torch::Tensor q = torch::randn({B, H, L, D}, opts) / std::sqrt(static_cast<double>(D));
  const torch::Tensor k = torch::randn({B, H, L, D}, opts);
  const torch::Tensor v = torch::randn({B, H, L, D}, opts);
  const torch::Tensor index_embedding = torch::randn({std::max<int64_t>(c.index_rows, 1), D}, opts);
  const torch::Tensor time_table = torch::randn({B, H, L, std::max<int64_t>(s.time_columns, 1)}, opts);
  const torch::Tensor pitch_table = torch::randn({B, H, L, std::max<int64_t>(s.pitch_columns, 1)}, opts);
  const torch::Tensor times = torch::randint(0, 30, {B, L}, torch::kLong).cumsum(1);
  const torch::Tensor pitches = torch::randint(20, 100, {B, L}, torch::kLong);
  const torch::Tensor has_pitch = torch::rand({B, L}).gt(0.1);
  torch::Tensor padding = torch::zeros({B, L}, torch::kBool);
  padding.narrow(1, L - 17, 17).fill_(true);
  padding.select(0, 0).narrow(0, 40, 3).fill_(true);
  const torch::Tensor grad_out = torch::randn({B, H, L, D}, opts);

  // The inputs this case has, wherever their data lives.
  const auto describe = [&](const T* q_data, const T* k_data, const T* v_data, const T* e_data, const T* t_data,
                            const T* p_data, const int64_t* times_data, const int64_t* pitches_data,
                            const bool* pitched_data, const bool* padding_data) {
    FlashRelativeInputs<T> in;
    in.q = q_data;
    in.k = k_data;
    in.v = v_data;
    in.index_embedding = c.index_rows > 0 ? e_data : nullptr;
    if (c.time_pitch) {
      in.time_table = t_data;
      in.pitch_table = p_data;
      in.times = times_data;
      in.pitches = pitches_data;
      in.has_pitch = pitched_data;
    }
    in.padding = c.padding ? padding_data : nullptr;
    return in;
  };
  // The backward's buffers likewise.
  const auto describe_grads = [&](const T* out_data, const T* lse_data, const T* grad_out_data, const T* delta_data,
                                  T* gq_data, T* gk_data, T* gv_data, T* ge_data, T* gt_data, T* gp_data) {
    FlashRelativeGrads<T> g;
    g.out = out_data;
    g.lse = lse_data;
    g.grad_out = grad_out_data;
    g.delta = delta_data;
    g.grad_q = gq_data;
    g.grad_k = gk_data;
    g.grad_v = gv_data;
    g.grad_index_partial = c.index_rows > 0 ? ge_data : nullptr;
    g.grad_time_table = c.time_pitch ? gt_data : nullptr;
    g.grad_pitch_table = c.time_pitch ? gp_data : nullptr;
    return g;
  };

  // Host inputs and the CPU pass (the bool tensors are contiguous already).
  std::vector<T> hq = Host<T>(q), hk = Host<T>(k), hv = Host<T>(v), he = Host<T>(index_embedding);
  std::vector<T> ht = Host<T>(time_table), hp = Host<T>(pitch_table);
  std::vector<int64_t> htimes = Host<int64_t>(times), hpitches = Host<int64_t>(pitches);
  const bool* hpitched = has_pitch.data_ptr<bool>();
  const bool* hpadding = padding.data_ptr<bool>();
  const FlashRelativeInputs<T> host_in = describe(hq.data(), hk.data(), hv.data(), he.data(), ht.data(), hp.data(),
                                                  htimes.data(), hpitches.data(), hpitched, hpadding);
  std::vector<T> out(B * H * L * D), lse(B * H * L);
  FlashRelativeForwardCpu<T>(s, host_in, out.data(), lse.data());
  std::vector<T> hgrad_out = Host<T>(grad_out);
  std::vector<T> delta(B * H * L, 0);
  for (int64_t row = 0; row < B * H * L; ++row) {
    for (int64_t d = 0; d < D; ++d) delta[row] += hgrad_out[row * D + d] * out[row * D + d];
  }
  const int64_t index_share = std::min(c.index_rows, L);
  std::vector<T> gq(B * H * L * D), gk(gq.size()), gv(gq.size()), ge(B * H * index_share * D);
  std::vector<T> gt(c.time_pitch ? B * H * L * s.time_columns : 0, 0),
      gp(c.time_pitch ? B * H * L * s.pitch_columns : 0, 0);
  FlashRelativeBackwardCpu<T>(s, host_in,
                              describe_grads(out.data(), lse.data(), hgrad_out.data(), delta.data(), gq.data(),
                                             gk.data(), gv.data(), ge.data(), gt.data(), gp.data()));

  // The same on the device.
  DeviceBuffer<T> dq(hq), dk(hk), dv(hv), de(he), dt(ht), dp(hp), dgrad_out(hgrad_out), ddelta(delta);
  DeviceBuffer<int64_t> dtimes(htimes), dpitches(hpitches);
  DeviceBuffer<bool> dpitched(B * L), dpadding(B * L);
  ASSERT_CUDA(cudaMemcpy(dpitched.get(), hpitched, B * L, cudaMemcpyHostToDevice));
  ASSERT_CUDA(cudaMemcpy(dpadding.get(), hpadding, B * L, cudaMemcpyHostToDevice));
  const FlashRelativeInputs<T> in = describe(dq.get(), dk.get(), dv.get(), de.get(), dt.get(), dp.get(), dtimes.get(),
                                             dpitches.get(), dpitched.get(), dpadding.get());
  const std::vector<T> nan(gq.size(), std::numeric_limits<T>::quiet_NaN());
  DeviceBuffer<T> dout(nan), dlse(std::vector<T>(lse.size(), std::numeric_limits<T>::quiet_NaN()));
  ASSERT_CUDA(FlashRelativeForwardCuda<T>(s, in, dout.get(), dlse.get(), nullptr));
  ASSERT_CUDA(cudaDeviceSynchronize());
  ExpectClose(dout.ToHost(), out, tolerance, "out");
  ExpectClose(dlse.ToHost(), lse, tolerance, "lse");

  DeviceBuffer<T> dgq(nan), dgk(nan), dgv(nan), dge(std::vector<T>(ge.size(), std::numeric_limits<T>::quiet_NaN()));
  DeviceBuffer<T> dgt(std::vector<T>(gt.size(), 0)), dgp(std::vector<T>(gp.size(), 0));
  DeviceBuffer<T> dout_cpu(out), dlse_cpu(lse);  // the backward starts from the same forward as the CPU's
  const FlashRelativeGrads<T> g = describe_grads(dout_cpu.get(), dlse_cpu.get(), dgrad_out.get(), ddelta.get(),
                                                 dgq.get(), dgk.get(), dgv.get(), dge.get(), dgt.get(), dgp.get());
  ASSERT_CUDA(FlashRelativeBackwardCuda<T>(s, in, g, nullptr));
  ASSERT_CUDA(cudaDeviceSynchronize());
  ExpectClose(dgq.ToHost(), gq, tolerance, "grad q");
  ExpectClose(dgk.ToHost(), gk, tolerance, "grad k");
  ExpectClose(dgv.ToHost(), gv, tolerance, "grad v");
  if (c.index_rows > 0) ExpectClose(dge.ToHost(), ge, tolerance, "grad index embedding (per b,h)");
  if (c.time_pitch) {
    ExpectClose(dgt.ToHost(), gt, tolerance, "grad time table");
    ExpectClose(dgp.ToHost(), gp, tolerance, "grad pitch table");
  }
}

TEST(FlashRelativeCudaTest, EveryTermFloat64) {
  SKIP_WITHOUT_GPU();
  CompareWithCpu<double>({}, 1e-9);
}

TEST(FlashRelativeCudaTest, EveryTermFloat32) {
  SKIP_WITHOUT_GPU();
  CompareWithCpu<float>({}, 2e-4);
}

TEST(FlashRelativeCudaTest, ClampedIndexRowsDropoutHead64) {
  SKIP_WITHOUT_GPU();
  CompareWithCpu<float>({.length = 200, .head_dim = 64, .index_rows = 37, .dropout = 0.2}, 2e-4);
}

TEST(FlashRelativeCudaTest, MaskOnlyWithoutPadding) {
  SKIP_WITHOUT_GPU();
  CompareWithCpu<float>({.length = 257, .index_rows = 0, .time_pitch = false, .padding = false}, 2e-4);
}

TEST(FlashRelativeCudaTest, DropoutFloat64) {
  SKIP_WITHOUT_GPU();
  CompareWithCpu<double>({.length = 150, .index_rows = 60, .dropout = 0.3}, 1e-9);
}

TEST(FlashRelativeCudaTest, HeadSizes8And128) {
  SKIP_WITHOUT_GPU();
  CompareWithCpu<float>({.length = 140, .head_dim = 8}, 2e-4);
  CompareWithCpu<float>({.batch = 1, .heads = 2, .length = 130, .head_dim = 128, .index_rows = 50}, 5e-4);
}

#ifdef EXPSVC_FLASH_RELATIVE_CUDA
// The autograd op on CUDA tensors (device guard, current stream, the zeroed
// score-table gradients, the index gradient's sum over batch and heads)
// against the same op on the CPU, float64.
TEST(FlashRelativeCudaTest, AutogradOpOnCudaTensorsMatchesCpu) {
  SKIP_WITHOUT_GPU();
  const torch::Device cuda(torch::kCUDA);
  ASSERT_TRUE(FlashRelativeRunsOn(cuda, torch::kFloat64, 16));
  torch::manual_seed(5);
  const int64_t B = 2, H = 3, L = 90, D = 16;
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  FlashRelativeArgs args;
  args.times = torch::randint(0, 40, {B, L}, torch::kLong).cumsum(1);
  args.pitches = torch::randint(30, 90, {B, L}, torch::kLong);
  args.has_pitch = torch::rand({B, L}).gt(0.2);
  args.padding = torch::zeros({B, L}, torch::kBool);
  args.padding.narrow(1, L - 6, 6).fill_(true);
  args.rules = {
      .time_period = 48, .first_bar = 0, .num_bars = 4, .pitch_period = 12, .first_octave = -5, .num_octaves = 11};
  args.dropout = 0.2;
  args.seed = 77;
  const std::vector<torch::Tensor> inputs = {
      torch::randn({B, H, L, D}, f64) / 4.0,
      torch::randn({B, H, L, D}, f64),
      torch::randn({B, H, L, D}, f64),
      torch::randn({40, D}, f64),  // fewer rows than L: the last one takes the longer distances
      torch::randn({B, H, L, args.rules.TimeColumns()}, f64),
      torch::randn({B, H, L, args.rules.PitchColumns()}, f64)};
  const torch::Tensor upstream = torch::randn({B, H, L, D}, f64);
  const auto run = [&](const torch::Device& device) {
    std::vector<torch::Tensor> leaves;
    for (const torch::Tensor& t : inputs) leaves.push_back(t.to(device).requires_grad_(true));
    FlashRelativeArgs on_device = args;
    for (torch::Tensor* t : {&on_device.times, &on_device.pitches, &on_device.has_pitch, &on_device.padding}) {
      *t = t->to(device);
    }
    const torch::Tensor out =
        FlashRelativeAttention(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5], on_device);
    out.backward(upstream.to(device));
    std::vector<torch::Tensor> results = {out.detach().cpu()};
    for (const torch::Tensor& leaf : leaves) results.push_back(leaf.grad().cpu());
    return results;
  };
  const std::vector<torch::Tensor> cpu = run(torch::kCPU);
  const std::vector<torch::Tensor> gpu = run(cuda);
  const char* names[] = {
      "out", "grad q", "grad k", "grad v", "grad index embedding", "grad time table", "grad pitch table"};
  for (size_t n = 0; n < cpu.size(); ++n) {
    EXPECT_TRUE(torch::allclose(gpu[n], cpu[n], 1e-9, 1e-11))
        << names[n] << ": max |diff| " << (gpu[n] - cpu[n]).abs().max().item<double>();
  }
}
#endif

TEST(FlashRelativeCudaTest, RefusesAnUnsupportedHeadSize) {
  SKIP_WITHOUT_GPU();
  FlashRelativeShape s;
  s.batch = s.heads = 1;
  s.length = 4;
  s.head_dim = 24;
  float dummy = 0;
  EXPECT_EQ(FlashRelativeForwardCuda<float>(s, {}, &dummy, &dummy, nullptr), cudaErrorInvalidValue);
}

}  // namespace
}  // namespace expsvc::kernels
