#include "worker/kernels/flash_relative/flash_relative_cpu.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "worker/kernels/flash_relative/flash_relative_rows.h"

namespace expsvc::kernels {
namespace {

// Runs row(bh, r) for every (bh, r < rows), spread over Torch's threads.
template <typename Row>
void ForEachRow(const FlashRelativeShape& s, int64_t rows, const Row& row) {
  const int64_t total = s.batch * s.heads * rows;
  at::parallel_for(0, total, 16, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) row(n / rows, n % rows);
  });
}

template <typename T, int kDh>
void Forward(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in, T* out, T* lse) {
  ForEachRow(s, s.length, [&](int64_t bh, int64_t i) { flash_rows::ForwardRow<T, kDh>(s, in, out, lse, bh, i); });
}

template <typename T, int kDh>
void Backward(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in, const FlashRelativeGrads<T>& g) {
  ForEachRow(s, s.length, [&](int64_t bh, int64_t i) { flash_rows::BackwardQueryRow<T, kDh>(s, in, g, bh, i); });
  ForEachRow(s, s.length, [&](int64_t bh, int64_t j) { flash_rows::BackwardKeyRow<T, kDh>(s, in, g, bh, j); });
  if (s.index_rows > 0) {
    ForEachRow(s, std::min(s.index_rows, s.length),
               [&](int64_t bh, int64_t r) { flash_rows::BackwardIndexRow<T, kDh>(s, in, g, bh, r); });
  }
}

}  // namespace

template <typename T>
void FlashRelativeForwardCpu(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in, T* out, T* lse) {
  switch (s.head_dim) {
    case 8: Forward<T, 8>(s, in, out, lse); break;
    case 16: Forward<T, 16>(s, in, out, lse); break;
    case 32: Forward<T, 32>(s, in, out, lse); break;
    case 64: Forward<T, 64>(s, in, out, lse); break;
    case 128: Forward<T, 128>(s, in, out, lse); break;
    default: break;  // the callers check FlashRelativeHeadDimSupported first
  }
}

template <typename T>
void FlashRelativeBackwardCpu(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in,
                              const FlashRelativeGrads<T>& g) {
  switch (s.head_dim) {
    case 8: Backward<T, 8>(s, in, g); break;
    case 16: Backward<T, 16>(s, in, g); break;
    case 32: Backward<T, 32>(s, in, g); break;
    case 64: Backward<T, 64>(s, in, g); break;
    case 128: Backward<T, 128>(s, in, g); break;
    default: break;
  }
}

template void FlashRelativeForwardCpu<float>(const FlashRelativeShape&, const FlashRelativeInputs<float>&, float*,
                                             float*);
template void FlashRelativeForwardCpu<double>(const FlashRelativeShape&, const FlashRelativeInputs<double>&, double*,
                                              double*);
template void FlashRelativeBackwardCpu<float>(const FlashRelativeShape&, const FlashRelativeInputs<float>&,
                                              const FlashRelativeGrads<float>&);
template void FlashRelativeBackwardCpu<double>(const FlashRelativeShape&, const FlashRelativeInputs<double>&,
                                               const FlashRelativeGrads<double>&);

}  // namespace expsvc::kernels
