#pragma once
// IEEE half (F16) and bfloat16 (BF16) ↔ float conversions, done on the bit
// patterns so the library needs no compiler half type. float → half/bf16
// rounds to nearest, ties to even, as PyTorch does; NaN stays NaN, values
// beyond the half range become ±inf.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/lm/checkpoint/dtype.h"

namespace expsvc::lm {

float HalfToFloat(uint16_t half_bits);
uint16_t FloatToHalf(float value);

float BFloat16ToFloat(uint16_t bfloat16_bits);
uint16_t FloatToBFloat16(float value);

// Little-endian element bytes of `dtype` → floats. F64 is narrowed (rounded);
// integer dtypes are an error. `bytes.size()` must be a multiple of the
// element size. The bytes need no alignment.
absl::StatusOr<std::vector<float>> DecodeToFloat32(DType dtype, std::span<const std::byte> bytes);

// Floats → little-endian element bytes of a floating-point `dtype`.
absl::StatusOr<std::vector<std::byte>> EncodeFromFloat32(DType dtype, std::span<const float> values);

}  // namespace expsvc::lm
