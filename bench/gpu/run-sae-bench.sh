#!/usr/bin/env bash
# Builds bench/gpu (LibTorch from the installed PyTorch) and runs sae_bench
# on the GPU at the study's size and at the CPU bench's size, then once on
# the CPU of the same machine. Output goes to stdout and, when $OUT is set,
# to $OUT/sae-bench-gpu.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
log="${OUT:-/tmp}/sae-bench-gpu.log"
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
build=/tmp/expsvc-sae-gpu
cmake -S bench/gpu -B "$build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
ninja -C "$build" 2>&1 | tail -3
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  "$build/sae_bench" --cuda=1 --d=512 --n=8192 --k=32 --batch=8192 --repeats=20
  "$build/sae_bench" --cuda=1 --d=512 --n=32768 --k=32 --batch=8192 --repeats=20
  "$build/sae_bench" --cuda=1 --d=2048 --n=32768 --k=32 --batch=8192 --repeats=10
  "$build/sae_bench" --cuda=0 --d=512 --n=8192 --k=32 --batch=8192 --repeats=3 --threads=16
} 2>&1 | tee "$log"
