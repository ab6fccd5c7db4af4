#include "worker/lm/checkpoint/half_float.h"

#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace expsvc::lm {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader copies it as is");

constexpr uint32_t kFloatExponentMask = 0x7f800000u;
constexpr uint32_t kFloatMantissaMask = 0x007fffffu;

template <typename T>
T LoadUnaligned(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

template <typename T>
void StoreUnaligned(std::byte* p, T value) {
  std::memcpy(p, &value, sizeof(T));
}

}  // namespace

float HalfToFloat(uint16_t half_bits) {
  const uint32_t sign = static_cast<uint32_t>(half_bits & 0x8000u) << 16;
  const uint32_t exponent = (half_bits >> 10) & 0x1fu;
  const uint32_t mantissa = half_bits & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa · 2^-24, exactly representable as a float.
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1f) {  // inf, or NaN with its payload kept
    return std::bit_cast<float>(sign | kFloatExponentMask | (mantissa << 13));
  }
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

uint16_t FloatToHalf(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  const uint32_t exponent = magnitude >> 23;
  const uint32_t mantissa = magnitude & kFloatMantissaMask;

  if (exponent == 0xff) {  // inf stays inf; NaN stays a (quiet) NaN
    if (mantissa == 0) return sign | 0x7c00u;
    return sign | 0x7e00u | static_cast<uint16_t>(mantissa >> 13);
  }
  if (exponent >= 143) return sign | 0x7c00u;  // ≥ 2^16: beyond the largest half
  if (exponent >= 113) {
    // Normal half: keep 10 mantissa bits, round the 13 dropped ones. A carry
    // out of the mantissa bumps the exponent (up to inf), which is right.
    uint32_t half = ((exponent - 112) << 10) | (mantissa >> 13);
    const uint32_t dropped = mantissa & 0x1fffu;
    if (dropped > 0x1000u || (dropped == 0x1000u && (half & 1u))) ++half;
    return sign | static_cast<uint16_t>(half);
  }
  // Subnormal half (or zero): value / 2^-24 = significand · 2^(exponent − 126).
  const uint32_t shift = 126 - exponent;  // ≥ 14
  if (shift > 24) return sign;            // below half the smallest subnormal
  const uint32_t significand = mantissa | 0x00800000u;
  uint32_t half = significand >> shift;
  const uint32_t dropped = significand & ((1u << shift) - 1);
  const uint32_t halfway = 1u << (shift - 1);
  if (dropped > halfway || (dropped == halfway && (half & 1u))) ++half;
  return sign | static_cast<uint16_t>(half);
}

float BFloat16ToFloat(uint16_t bfloat16_bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bfloat16_bits) << 16);
}

uint16_t FloatToBFloat16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > kFloatExponentMask) {
    return static_cast<uint16_t>((bits >> 16) | 0x40u);  // quiet NaN, even if the payload was low
  }
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

absl::StatusOr<std::vector<float>> DecodeToFloat32(DType dtype, std::span<const std::byte> bytes) {
  if (!IsFloatingPoint(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot convert ", std::string(DTypeName(dtype)), " to F32"));
  }
  const int64_t element_size = DTypeSize(dtype);
  if (bytes.size() % element_size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(bytes.size(), " bytes is not a whole number of ", std::string(DTypeName(dtype)), " elements"));
  }
  std::vector<float> values(bytes.size() / element_size);
  const std::byte* p = bytes.data();
  for (size_t i = 0; i < values.size(); ++i, p += element_size) {
    switch (dtype) {
      case DType::kF64: values[i] = static_cast<float>(LoadUnaligned<double>(p)); break;
      case DType::kF32: values[i] = LoadUnaligned<float>(p); break;
      case DType::kF16: values[i] = HalfToFloat(LoadUnaligned<uint16_t>(p)); break;
      case DType::kBF16: values[i] = BFloat16ToFloat(LoadUnaligned<uint16_t>(p)); break;
      case DType::kI64:
      case DType::kI32: break;  // rejected above
    }
  }
  return values;
}

absl::StatusOr<std::vector<std::byte>> EncodeFromFloat32(DType dtype, std::span<const float> values) {
  if (!IsFloatingPoint(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot convert F32 to ", std::string(DTypeName(dtype))));
  }
  const int64_t element_size = DTypeSize(dtype);
  std::vector<std::byte> bytes(values.size() * element_size);
  std::byte* p = bytes.data();
  for (float value : values) {
    switch (dtype) {
      case DType::kF64: StoreUnaligned<double>(p, value); break;
      case DType::kF32: StoreUnaligned<float>(p, value); break;
      case DType::kF16: StoreUnaligned<uint16_t>(p, FloatToHalf(value)); break;
      case DType::kBF16: StoreUnaligned<uint16_t>(p, FloatToBFloat16(value)); break;
      case DType::kI64:
      case DType::kI32: break;  // rejected above
    }
    p += element_size;
  }
  return bytes;
}

}  // namespace expsvc::lm
