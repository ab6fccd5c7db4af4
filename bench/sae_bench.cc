// The TopK SAE trainer on a CPU (or a CUDA GPU with --cuda=1): training tokens/s of the hand-written
// sparse step against dense autograd in the same run, and against the
// encoder bound: 2·d·n FLOPs per token at the GFLOP/s a plain matrix product
// of the encoder's shape reaches, also measured in this run.
//
//   sae_bench [--d=512] [--n=8192] [--k=32] [--batch=8192] [--repeats=3] [--threads=0] [--cuda=0]
//             [--bf16_encoder=0]
//
// --bf16_encoder=1: the sparse trainers run the encoder product in bf16
// (TopKSaeOptions::encoder_dtype), and the bound is a bf16 product too.
//
// First checks that the sparse step's loss and gradients equal dense
// autograd's on the device it times (exit 1 otherwise), and on CUDA also
// that the GPU's sparse step matches the CPU's on the same weights and
// inputs. Needs only LibTorch (bench/gpu/ builds it on a machine with a
// pip-installed torch and no Debian packages). Each timed step is a whole optimiser step
// (zero grads, forward, backward, decoder projection, Adam, renormalise).
// Built with the TopK-SAE CUDA kernels (a CUDA LibTorch and nvcc), the
// sparse step on the GPU uses them, and the same step with Torch's own ops
// is timed beside it (vs_torch_ops=).
// Last line: key=value pairs, with vs_dense= and of_bound=.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "bench/bench_flags.h"
#include "bench/bench_timing.h"
#include "worker/lm/sae/dense_sae_reference.h"
#include "worker/lm/sae/sparse_sae_step.h"
#include "worker/lm/sae/topk_sae.h"
#include "worker/runtime/heap_policy.h"

namespace {

using expsvc::bench::Median;
using expsvc::bench::Seconds;
using expsvc::lm::CompareSparseWithDense;
using expsvc::lm::DenseSaeLoss;
using expsvc::lm::SparseSaeForwardBackward;
using expsvc::lm::TopKSae;
using expsvc::lm::TopKSaeOptions;

using expsvc::bench::Flag;

torch::Tensor UnitRows(const torch::Tensor& x) {
  return x / x.norm(2, {1}, true);
}

// Waits for queued GPU work, so a timing covers it.
void Synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

bool Validate(const torch::Device& device) {
  torch::manual_seed(11);
  TopKSae sae(TopKSaeOptions(64, 512, 8).seed(2));
  {
    torch::NoGradGuard no_grad;
    sae->b_pre.copy_(torch::randn({64}) * 0.05);
  }
  const torch::Tensor x = UnitRows(torch::randn({256, 64}));
  bool ok = true;
  if (device.is_cuda()) {
    // The same weights and inputs on the GPU and on the CPU (the reference).
    const expsvc::lm::SparseDenseComparison cpu = CompareSparseWithDense(*sae, x);
    sae->to(device);
    const expsvc::lm::SparseDenseComparison gpu = CompareSparseWithDense(*sae, x.to(device));
    const double difference = std::abs(gpu.sparse_loss - cpu.sparse_loss) / cpu.sparse_loss;
    std::printf("validate cuda vs cpu sparse loss: %.6f vs %.6f (relative %.2e)\n", gpu.sparse_loss, cpu.sparse_loss,
                difference);
    ok = ok && difference < 1e-4;
    for (const auto& [name, sum] : gpu.sparse_gradient_abs_sum) {
      const double cpu_sum = cpu.sparse_gradient_abs_sum.at(name);
      const double relative = std::abs(sum - cpu_sum) / std::max(cpu_sum, 1e-30);
      std::printf("validate cuda vs cpu %-6s sum|gradient|: relative %.2e\n", name.c_str(), relative);
      ok = ok && relative < 1e-4;
    }
  }
  const expsvc::lm::SparseDenseComparison comparison = CompareSparseWithDense(*sae, x.to(sae->w_enc.device()));
  ok = ok && std::abs(comparison.sparse_loss - comparison.dense_loss) <= 1e-5 * comparison.dense_loss;
  for (const auto& [name, error] : comparison.gradient_relative_error) {
    std::printf("validate %-6s gradient: max relative error %.2e\n", name.c_str(), error);
    ok = ok && error < 1e-5;
  }
  std::printf("validate loss: sparse %.6f dense %.6f -> %s\n", comparison.sparse_loss, comparison.dense_loss,
              ok ? "ok" : "MISMATCH");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  // The worker's allocator policy, so the times are the ones its jobs see.
  const bool heap_policy = expsvc::worker::KeepLargeAllocationsInHeap();
  std::printf("allocator: %s\n", expsvc::worker::HeapPolicyDescription(heap_policy));
  const int64_t d = Flag(argc, argv, "d", 512);
  const int64_t n = Flag(argc, argv, "n", 8192);
  const int64_t k = Flag(argc, argv, "k", 32);
  const int64_t batch = Flag(argc, argv, "batch", 8192);
  const int repeats = static_cast<int>(Flag(argc, argv, "repeats", 3));
  // 0: every core, as a job with threads: 0 runs.
  const int64_t threads = Flag(argc, argv, "threads", 0);
  const bool cuda = Flag(argc, argv, "cuda", 0) != 0;
  const torch::Dtype encoder_dtype = Flag(argc, argv, "bf16_encoder", 0) != 0 ? torch::kBFloat16 : torch::kFloat32;
  if (cuda && !torch::cuda::is_available()) {
    std::fprintf(stderr, "sae_bench: --cuda=1 but this LibTorch sees no CUDA device\n");
    return 2;
  }
  const torch::Device device = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  torch::set_num_threads(threads > 0 ? static_cast<int>(threads)
                                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  std::printf("sae_bench: d=%ld n=%ld k=%ld batch=%ld tokens, on %s (%d CPU threads)\n", d, n, k, batch,
              cuda ? "cuda" : "cpu", torch::get_num_threads());
  if (!Validate(device)) return 1;

  torch::manual_seed(3);
  const torch::Tensor x = UnitRows(torch::randn({batch, d})).to(device);
  TopKSae sparse_sae(TopKSaeOptions(d, n, k).encoder_dtype(encoder_dtype));
  TopKSae dense_sae(TopKSaeOptions(d, n, k));
  sparse_sae->to(device);
  dense_sae->to(device);
  torch::optim::Adam sparse_adam(sparse_sae->parameters(), torch::optim::AdamOptions(1e-4).eps(6.25e-10));
  torch::optim::Adam dense_adam(dense_sae->parameters(), torch::optim::AdamOptions(1e-4).eps(6.25e-10));
  // One optimiser step of the hand-written sparse trainer.
  auto sparse_step_of = [&x](TopKSae& sae, torch::optim::Adam& adam) {
    return [&x, &sae, &adam] {
      adam.zero_grad();
      SparseSaeForwardBackward(*sae, x);
      sae->ProjectDecoderGradient();
      adam.step();
      sae->NormalizeDecoderRows();
    };
  };
  auto sparse_step = sparse_step_of(sparse_sae, sparse_adam);
  // With the CUDA kernels, the same sparse step with Torch's ops instead.
  const bool kernels = sparse_sae->UsesCudaKernels(device);
  TopKSae torch_ops_sae(TopKSaeOptions(d, n, k).cuda_kernels(false).encoder_dtype(encoder_dtype));
  torch_ops_sae->to(device);
  torch::optim::Adam torch_ops_adam(torch_ops_sae->parameters(), torch::optim::AdamOptions(1e-4).eps(6.25e-10));
  auto torch_ops_step = sparse_step_of(torch_ops_sae, torch_ops_adam);
  auto dense_step = [&] {
    dense_adam.zero_grad();
    DenseSaeLoss(*dense_sae, x).backward();
    dense_sae->ProjectDecoderGradient();
    dense_adam.step();
    dense_sae->NormalizeDecoderRows();
  };
  // The bound: the encoder's product alone, [batch, d] × [d, n].
  const torch::Tensor encoder = torch::randn({n, d}).to(device).to(encoder_dtype);
  const torch::Tensor x_product = x.to(encoder_dtype);
  auto matmul = [&] { torch::mm(x_product, encoder.t()); };

  // Warm up, then alternate so drift hits all three alike.
  sparse_step();
  dense_step();
  matmul();
  if (kernels) torch_ops_step();
  std::vector<double> sparse_s, dense_s, matmul_s, torch_ops_s;
  auto timed = [&](const std::function<void()>& body) {
    return [&device, body] {
      body();
      Synchronize(device);
    };
  };
  Synchronize(device);
  for (int r = 0; r < repeats; ++r) {
    sparse_s.push_back(Seconds(timed(sparse_step)));
    dense_s.push_back(Seconds(timed(dense_step)));
    matmul_s.push_back(Seconds(timed(matmul)));
    if (kernels) torch_ops_s.push_back(Seconds(timed(torch_ops_step)));
  }
  const double torch_ops_tps = kernels ? batch / Median(torch_ops_s) : 0.0;
  const double sparse_tps = batch / Median(sparse_s);
  const double dense_tps = batch / Median(dense_s);
  const double gflops = 2.0 * batch * d * n / Median(matmul_s) / 1e9;
  const double bound_tps = gflops * 1e9 / (2.0 * d * n);
  std::printf("\nmedian of %d repetitions\n", repeats);
  std::printf("%-44s %10s %12s\n", "", "s/step", "tokens/s");
  std::printf("%-44s %10.4f %12.0f\n", "dense autograd trainer (baseline)", Median(dense_s), dense_tps);
  std::printf("%-44s %10.4f %12.0f\n", kernels ? "sparse trainer, CUDA kernels" : "sparse trainer", Median(sparse_s),
              sparse_tps);
  if (kernels) {
    std::printf("%-44s %10.4f %12.0f\n", "sparse trainer, Torch ops", Median(torch_ops_s), torch_ops_tps);
  }
  std::printf("%-44s %10.4f %12.0f   (%.1f GFLOP/s)\n", "encoder product alone (the bound)", Median(matmul_s),
              bound_tps, gflops);
  std::printf("\nsparse vs dense: %.2fx; sparse of bound: %.0f%%\n", sparse_tps / dense_tps,
              100.0 * sparse_tps / bound_tps);
  std::printf(
      "device=%s d=%ld n=%ld k=%ld batch=%ld sparse_tokens_per_s=%.0f dense_tokens_per_s=%.0f bound_tokens_per_s=%.0f "
      "gemm_gflops=%.1f vs_dense=%.2f of_bound=%.2f kernels=%s vs_torch_ops=%.2f encoder=%s\n",
      cuda ? "cuda" : "cpu", d, n, k, batch, sparse_tps, dense_tps, bound_tps, gflops, sparse_tps / dense_tps,
      sparse_tps / bound_tps, kernels ? "cuda" : "torch", kernels ? sparse_tps / torch_ops_tps : 1.0,
      encoder_dtype == torch::kBFloat16 ? "bf16" : "float32");
  return 0;
}
