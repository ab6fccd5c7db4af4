#pragma once
// Element types a .safetensors file may hold, as the header spells them
// ("F32", "BF16", ...). Only the types the LM study needs are known; any
// other name is rejected when a file is read.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace expsvc::lm {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32 };

// The header's spelling: "F64", "F32", "F16", "BF16", "I64", "I32".
std::string_view DTypeName(DType dtype);

// Inverse of DTypeName (exact, case-sensitive as the format is).
absl::StatusOr<DType> ParseDType(std::string_view name);

// Bytes per element.
int64_t DTypeSize(DType dtype);

bool IsFloatingPoint(DType dtype);

}  // namespace expsvc::lm
