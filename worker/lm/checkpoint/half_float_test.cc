#include "worker/lm/checkpoint/half_float.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include <gtest/gtest.h>

namespace expsvc::lm {
namespace {

TEST(HalfFloatTest, DecodesKnownHalfValues) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x03ff), 1023 * std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(HalfToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
  EXPECT_EQ(HalfToFloat(0x8000), 0.0f);
}

TEST(HalfFloatTest, EncodesWithRoundToNearestEven) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);  // below the halfway point to 2^16
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);  // halfway, ties to even: overflows to inf
  EXPECT_EQ(FloatToHalf(1e9f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-1e9f), 0xfc00);
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie → even (1.0)
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie → even (1 + 2^-9)
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);             // tie between 0 and 2^-24 → 0
  EXPECT_EQ(FloatToHalf(3 * std::ldexp(1.0f, -26)), 0x0001);         // 0.75 · 2^-24 → 2^-24
  EXPECT_EQ(FloatToHalf(3 * std::ldexp(1.0f, -25)), 0x0002);         // tie 1.5 → 2
  EXPECT_EQ(FloatToHalf(1e-10f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7c00);
  const uint16_t nan = FloatToHalf(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(HalfToFloat(nan)));
}

TEST(HalfFloatTest, EveryHalfRoundTrips) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const uint16_t half = static_cast<uint16_t>(bits);
    const float value = HalfToFloat(half);
    if (std::isnan(value)) {
      EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(value)))) << bits;
    } else {
      EXPECT_EQ(FloatToHalf(value), half) << bits;
    }
  }
}

// The chosen half is never farther from the float than its neighbours.
TEST(HalfFloatTest, RandomFloatsGoToANearestHalf) {
  std::mt19937 random(7);
  std::uniform_real_distribution<float> exponent(-26.0f, 16.0f);
  for (int i = 0; i < 20000; ++i) {
    const float value = std::exp2(exponent(random)) * ((i % 2) ? 1.0f : -1.0f);
    const uint16_t half = FloatToHalf(value);
    const double error = std::abs(static_cast<double>(HalfToFloat(half)) - value);
    if (std::isinf(HalfToFloat(half))) {
      EXPECT_GE(std::abs(value), 65520.0f);
      continue;
    }
    for (int step : {-1, 1}) {
      const uint16_t neighbour = static_cast<uint16_t>(half + step);
      if ((neighbour & 0x7fff) > 0x7c00 || ((half & 0x7fff) == 0 && step < 0)) continue;
      const double neighbour_error = std::abs(static_cast<double>(HalfToFloat(neighbour)) - value);
      EXPECT_LE(error, neighbour_error) << value;
    }
  }
}

TEST(BFloat16Test, KnownValuesAndRounding) {
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  EXPECT_EQ(BFloat16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(BFloat16ToFloat(0xc040), -3.0f);
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie → even
  EXPECT_EQ(FloatToBFloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie → even
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -7) + std::ldexp(1.0f, -12)), 0x3f81);
  EXPECT_EQ(FloatToBFloat16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to inf
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(std::numeric_limits<float>::quiet_NaN()))));
  // A NaN whose payload sits only in the dropped bits must not become inf.
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(std::bit_cast<float>(0x7f800001u)))));
}

TEST(BFloat16Test, EveryBFloat16RoundTrips) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const uint16_t bf16 = static_cast<uint16_t>(bits);
    const float value = BFloat16ToFloat(bf16);
    if (std::isnan(value)) continue;
    EXPECT_EQ(FloatToBFloat16(value), bf16) << bits;
  }
}

TEST(ConvertTest, DecodesUnalignedBytesOfEveryFloatType) {
  const std::vector<float> values = {1.0f, -2.5f, 0.125f, 1024.0f};
  for (DType dtype : {DType::kF64, DType::kF32, DType::kF16, DType::kBF16}) {
    absl::StatusOr<std::vector<std::byte>> bytes = EncodeFromFloat32(dtype, values);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    ASSERT_EQ(bytes->size(), values.size() * DTypeSize(dtype));
    std::vector<std::byte> shifted(bytes->size() + 1);
    std::memcpy(shifted.data() + 1, bytes->data(), bytes->size());
    absl::StatusOr<std::vector<float>> decoded = DecodeToFloat32(dtype, std::span<const std::byte>(shifted).subspan(1));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, values) << DTypeName(dtype);
  }
}

TEST(ConvertTest, RejectsIntegersAndPartialElements) {
  const std::vector<std::byte> three_bytes(3);
  EXPECT_FALSE(DecodeToFloat32(DType::kI64, std::span<const std::byte>(three_bytes).first(0)).ok());
  EXPECT_FALSE(DecodeToFloat32(DType::kF16, three_bytes).ok());
  const std::vector<float> one = {1.0f};
  EXPECT_FALSE(EncodeFromFloat32(DType::kI32, one).ok());
}

}  // namespace
}  // namespace expsvc::lm
